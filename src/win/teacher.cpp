// Teacher construction (see teacher.hpp).
#include "win/teacher.hpp"

#include "io/model_io.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"

namespace win::method {

std::unique_ptr<models::Model> build_teacher(const config::Deck& deck, DType dtype) {
  auto teacher = models::build_model(models::teacher_config(deck.model, deck.teacher), dtype);
  if (!deck.teacher.checkpoint.empty()) io::load_weights(deck.teacher.checkpoint, *teacher);
  return teacher;
}

}  // namespace win::method
