// eliminate_dead_code: nodes whose outputs nobody reads, repeated until nothing changes.
#include <algorithm>

#include "graph/passes.h"

namespace shoal {

int eliminate_dead_code(Graph& g) {
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    auto cons = g.consumers();
    for (size_t i = g.nodes.size(); i-- > 0;) {
      Node& n = g.nodes[i];
      if (n.dead) continue;
      bool used = false;
      for (ValueId o : n.outputs) {
        if (o == kNoValue) continue;
        if (g.is_graph_output(o) || !cons[static_cast<size_t>(o)].empty()) used = true;
      }
      if (!used) {
        n.dead = true;
        ++count;
        changed = true;
        for (ValueId v : n.inputs) {
          if (v == kNoValue) continue;
          auto& c = cons[static_cast<size_t>(v)];
          c.erase(std::remove(c.begin(), c.end(), static_cast<NodeId>(i)), c.end());
        }
      }
    }
  }
  return count;
}

}  // namespace shoal
