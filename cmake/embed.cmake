# Writes a file's bytes as a C++ array: cmake -DIN=file -DOUT=header -DNAME=kSymbol -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}"
     "// Generated from ${IN} by cmake/embed.cmake: do not edit.\n#pragma once\n#include <cstddef>\n"
     "inline constexpr unsigned char ${NAME}[] = {${bytes}};\n"
     "inline constexpr std::size_t ${NAME}Size = ${size};\n")
