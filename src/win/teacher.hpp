// The wide teacher B of a deck: built by the widening rules from the student's model section,
// and, when teacher.checkpoint names a file, loaded from it (the paper: an existing trained model
// can serve as the wide network, and stage 1 is skipped).
#pragma once

#include <memory>

#include "config/deck.hpp"
#include "models/model.hpp"

namespace win::method {

std::unique_ptr<models::Model> build_teacher(const config::Deck& deck, DType dtype);

}  // namespace win::method
