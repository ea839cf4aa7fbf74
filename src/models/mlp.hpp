// The MLP family (DESIGN §2). `inner` blocks: Linear(d->h), activation, Linear(h->d) — the paper's
// theory setting, where only the inner width differs between thin and wide; a Linear stem maps
// the (flattened) input to d and a Linear head maps d to the classes. `plain` blocks: Linear +
// activation, block 0 reading the flattened input, head Linear(d -> classes).
// Parameter names: stem.*, blocks.<i>.fc1.*, blocks.<i>.fc2.* (inner) or blocks.<i>.fc.* (plain),
// head.*.
#pragma once

#include "config/deck.hpp"
#include "models/model.hpp"

namespace win::models {

std::unique_ptr<Model> build_mlp(const config::MlpConfig& c, int64_t classes, DType dtype);

}  // namespace win::models
