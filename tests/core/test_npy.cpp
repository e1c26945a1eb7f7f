// .npy files: every supported dtype and rank round-trips bit for bit with a 64-byte aligned
// header, and every bad file (missing, not .npy, unsupported dtype, Fortran order, bad or
// hostile shape, truncated data) is refused with a typed error naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "core/npy.h"
#include "core/tensor.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::path(testing::TempDir()) / ("shoal_npy_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// A .npy file (format 1.0) with header dict `dict`, padded as NumPy pads it, then `data`.
std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string h = dict;
  const size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::string b("\x93NUMPY\x01\x00", 8);
  b += static_cast<char>(h.size() & 0xff);
  b += static_cast<char>(h.size() >> 8);
  return b + h + data;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Expects read_npy(path) to throw `code` with a message naming the file and containing `what`.
void expect_refused(const std::string& path, ErrorCode code, const std::string& what) {
  try {
    read_npy(path);
    ADD_FAILURE() << "no error for " << path << "; expected '" << what << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos)
        << "'" << what << "' not in: " << e.what();
  }
}

TEST(Npy, EveryDtypeAndRankRoundTrips) {
  const struct {
    DType dtype;
    Dims dims;
  } cases[] = {{DType::kF32, {2, 3}},      {DType::kF64, {5}},    {DType::kF16, {1, 1, 3}},
               {DType::kI64, {}},          {DType::kI32, {7, 1}}, {DType::kI8, {3, 0}},
               {DType::kU8, {2, 2, 2, 2}}, {DType::kBool, {11}}};
  for (const auto& c : cases) {
    Tensor t(c.dtype, c.dims);
    auto* p = static_cast<uint8_t*>(t.raw());
    for (size_t i = 0; i < t.nbytes(); ++i) {
      p[i] = static_cast<uint8_t>(c.dtype == DType::kBool ? i % 2 : (i * 37 + 11) & 0xff);
    }
    const std::string path = temp_path(std::string(dtype_name(c.dtype)) + ".npy");
    write_npy(path, t);
    // NumPy's layout: magic, version, header length, header padded to a multiple of 64.
    EXPECT_EQ((fs::file_size(path) - t.nbytes()) % 64, 0u) << dtype_name(c.dtype);
    Tensor r = read_npy(path);
    EXPECT_EQ(r.dtype(), c.dtype);
    EXPECT_EQ(r.dims(), c.dims) << dtype_name(c.dtype);
    ASSERT_EQ(r.nbytes(), t.nbytes());
    EXPECT_EQ(std::memcmp(r.raw(), t.raw(), t.nbytes()), 0) << dtype_name(c.dtype);
    fs::remove(path);
  }
}

TEST(Npy, ReadsWhatNumPyWrites) {
  // np.save of np.arange(6, dtype=np.int64).reshape(2, 3): a trailing comma in the dict, spaces.
  std::string data;
  for (int64_t v = 0; v < 6; ++v) data.append(reinterpret_cast<const char*>(&v), 8);
  const std::string path = temp_path("numpy.npy");
  write_file(path, npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", data));
  Tensor t = read_npy(path);
  EXPECT_EQ(t.dtype(), DType::kI64);
  EXPECT_EQ(t.dims(), (Dims{2, 3}));
  EXPECT_EQ(t.data<int64_t>()[5], 5);
  fs::remove(path);
}

TEST(Npy, BadFilesAreRefusedNamingTheFile) {
  expect_refused(temp_path("absent.npy"), ErrorCode::kNotFound, "cannot open");
  const std::string path = temp_path("bad.npy");
  write_file(path, "PK\x03\x04 a zip file, not a .npy");
  expect_refused(path, ErrorCode::kInvalidArgument, "not a .npy file");
  write_file(path, std::string("\x93NUMPY\x01\x00", 8));
  expect_refused(path, ErrorCode::kInvalidArgument, "truncated");
  write_file(path, npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", ""));
  expect_refused(path, ErrorCode::kInvalidArgument, "unsupported .npy dtype '<c8'");
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                             std::string(16, '\0')));
  expect_refused(path, ErrorCode::kInvalidArgument, "Fortran-order");
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, }", ""));
  expect_refused(path, ErrorCode::kInvalidArgument, "no shape");
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", ""));
  expect_refused(path, ErrorCode::kInvalidArgument, "bad shape");
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                             std::string(20, '\0')));
  expect_refused(path, ErrorCode::kInvalidArgument, "data truncated (expected 24 bytes for");
  // A hostile shape is refused before anything is allocated.
  write_file(path,
             npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 4), }", ""));
  EXPECT_THROW(read_npy(path), Error);
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", ""));
  EXPECT_THROW(read_npy(path), Error);
  fs::remove(path);
}

TEST(Npy, UnwritableDtypeOrPathIsAnError) {
  EXPECT_THROW(write_npy(temp_path("bf16.npy"), Tensor(DType::kBF16, {2})), Error);
  EXPECT_THROW(write_npy(temp_path("no_such_dir") + "/x.npy", Tensor(DType::kF32, {2})), Error);
}

}  // namespace
}  // namespace shoal
