// einsum_to_matmul: a two-operand float32 Einsum of batch/row/column/contracted labels rewritten
// as Transpose/Reshape -> MatMul -> Reshape/Transpose.
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "graph/einsum.h"
#include "graph/passes.h"
#include "graph/passes/pass_util.h"

namespace shoal {

using passes_internal::is_f32;

namespace {

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t k = 0; k < perm.size(); ++k) {
    if (perm[k] != static_cast<int64_t>(k)) return false;
  }
  return true;
}

// A 1-D int64 constant (Reshape shapes).
Tensor i64_vector(const std::vector<int64_t>& v) {
  Tensor t(DType::kI64, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

}  // namespace

int einsum_to_matmul(Graph& g) {
  int count = 0;
  const size_t n_nodes = g.nodes.size();
  for (size_t i = 0; i < n_nodes; ++i) {
    const Node& e = g.nodes[i];
    if (e.dead || e.op_type != "Einsum" || e.inputs.size() != 2 || e.outputs.size() != 1 ||
        !e.post_ops.empty()) {
      continue;
    }
    const std::string eq = e.attr_string("equation", "");
    if (eq.find('.') != std::string::npos) continue;
    const ValueId ia = e.inputs[0], ib = e.inputs[1], io = e.outputs[0];
    if (ia == kNoValue || ib == kNoValue || io == kNoValue) continue;
    const Value &va = g.value(ia), &vb = g.value(ib);
    if (!is_f32(va) || !is_f32(vb) || !is_f32(g.value(io))) continue;
    bool fixed = true;
    for (const Dims* d : {&va.dims, &vb.dims}) {
      for (int64_t x : *d) fixed = fixed && x > 0;  // fixed and non-empty
    }
    if (!fixed) continue;
    EinsumSpec s;
    try {
      s = parse_einsum(eq, {va.dims, vb.dims}, e.name);
    } catch (const Error&) {
      continue;  // shape inference reports it
    }
    const size_t nl = s.sizes.size();
    std::vector<int> in_a(nl, 0), in_b(nl, 0), in_o(nl, 0);
    for (int l : s.operand_labels[0]) ++in_a[static_cast<size_t>(l)];
    for (int l : s.operand_labels[1]) ++in_b[static_cast<size_t>(l)];
    for (int l : s.output_labels) ++in_o[static_cast<size_t>(l)];
    // Label groups, each in output order (k in A's order): batch, rows (m), columns (n),
    // contracted.
    std::vector<int> batch, rows, cols, red;
    bool ok = true;
    for (size_t l = 0; l < nl; ++l) {
      if (in_a[l] > 1 || in_b[l] > 1) ok = false;         // a diagonal
      if (!in_o[l] && !(in_a[l] && in_b[l])) ok = false;  // summed within one operand
    }
    if (!ok) continue;
    for (int l : s.output_labels) {
      const size_t u = static_cast<size_t>(l);
      (in_a[u] && in_b[u] ? batch : in_a[u] ? rows : cols).push_back(l);
    }
    for (int l : s.operand_labels[0]) {
      const size_t u = static_cast<size_t>(l);
      if (in_b[u] && !in_o[u]) red.push_back(l);
    }
    auto product = [&](const std::vector<int>& ls) {
      int64_t p = 1;
      for (int l : ls) p *= s.sizes[static_cast<size_t>(l)];
      return p;
    };
    const std::string base = e.name + "/matmul";
    auto value = [&](const std::string& name, Dims dims) {
      ValueId v = g.add_value(name, DType::kF32);
      g.value(v).dims = std::move(dims);
      g.value(v).has_shape = true;
      return v;
    };
    auto add = [&](const std::string& op, const std::string& name, std::vector<ValueId> in,
                   ValueId out, std::map<std::string, Attribute> attrs = {}) {
      Node n;
      n.op_type = op;
      n.name = name;
      n.inputs = std::move(in);
      n.outputs = {out};
      n.attrs = std::move(attrs);
      g.add_node(std::move(n));
    };
    // Operand x (labels `have`) transposed to `order`, then viewed as 3-D `shape3`.
    auto arrange = [&](ValueId x, const std::vector<int>& have, std::vector<int> order, Dims shape3,
                       const std::string& tag) {
      std::vector<int64_t> perm;
      Dims td;
      for (int l : order) {
        const auto at = std::find(have.begin(), have.end(), l) - have.begin();
        perm.push_back(at);
        td.push_back(s.sizes[static_cast<size_t>(l)]);
      }
      if (!is_identity(perm)) {
        ValueId t = value(base + "/" + tag + "_t", td);
        add("Transpose", base + "/" + tag + "_transpose", {x}, t,
            {{"perm", Attribute::make_ints(perm)}});
        x = t;
      }
      ValueId r = value(base + "/" + tag + "_3d", shape3);
      add("Reshape", base + "/" + tag + "_reshape",
          {x, g.add_constant(base + "/" + tag + "_shape", i64_vector(shape3))}, r);
      return r;
    };
    const int64_t bt = product(batch), m = product(rows), n = product(cols), k = product(red);
    std::vector<int> order_a = batch, order_b = batch;
    order_a.insert(order_a.end(), rows.begin(), rows.end());
    order_a.insert(order_a.end(), red.begin(), red.end());
    order_b.insert(order_b.end(), red.begin(), red.end());
    order_b.insert(order_b.end(), cols.begin(), cols.end());
    const ValueId a3 = arrange(ia, s.operand_labels[0], order_a, {bt, m, k}, "a");
    const ValueId b3 = arrange(ib, s.operand_labels[1], order_b, {bt, k, n}, "b");
    const ValueId mm = value(base + "/product", {bt, m, n});
    add("MatMul", base, {a3, b3}, mm);
    // Back to the output's labels: [batch..., rows..., cols...], then the output order.
    std::vector<int> grouped = batch;
    grouped.insert(grouped.end(), rows.begin(), rows.end());
    grouped.insert(grouped.end(), cols.begin(), cols.end());
    std::vector<int64_t> perm;
    Dims gd;
    for (int l : grouped) gd.push_back(s.sizes[static_cast<size_t>(l)]);
    for (int l : s.output_labels) {
      perm.push_back(std::find(grouped.begin(), grouped.end(), l) - grouped.begin());
    }
    const ValueId shape_c = g.add_constant(base + "/out_shape", i64_vector(gd));
    g.nodes[i].dead = true;
    if (is_identity(perm)) {
      add("Reshape", base + "/out_reshape", {mm, shape_c}, io);
    } else {
      const ValueId r = value(base + "/grouped", gd);
      add("Reshape", base + "/out_reshape", {mm, shape_c}, r);
      add("Transpose", base + "/out_transpose", {r}, io, {{"perm", Attribute::make_ints(perm)}});
    }
    ++count;
  }
  if (count) g.topo_sort();
  return count;
}

}  // namespace shoal
