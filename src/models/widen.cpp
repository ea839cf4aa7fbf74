// Widening rules (see widen.hpp).
#include "models/widen.hpp"

#include "core/error.hpp"

namespace win::models {

config::ModelConfig teacher_config(const config::ModelConfig& s, const config::TeacherConfig& t) {
  WIN_CHECK(t.widen >= 1, ErrorKind::Config, "teacher.widen must be >= 1, got ", t.widen);
  const int64_t k = t.widen;
  config::ModelConfig w = s;
  if (s.family == "mlp") {
    if (s.mlp.block == "inner" && !t.widen_outputs) {
      w.mlp.inner = s.mlp.inner * k;
    } else {
      w.mlp.width = s.mlp.width * k;
      if (s.mlp.block == "inner") w.mlp.inner = s.mlp.inner * k;
    }
  } else if (s.family == "resnet") {
    if (t.widen_outputs)
      w.resnet.width_multiplier = s.resnet.width_multiplier * static_cast<double>(k);
    else
      w.resnet.inner_scale = s.resnet.inner_scale * k;
  } else if (s.family == "bert") {
    w.bert.embedding_size = s.bert.embedding_size > 0 ? s.bert.embedding_size : s.bert.hidden;
    w.bert.hidden = s.bert.hidden * k;
    w.bert.ffn = s.bert.ffn * k;
    w.bert.heads = s.bert.heads * k;
  } else {
    WIN_FAIL(ErrorKind::Config, "model.family: unknown family '", s.family, "'");
  }
  return w;
}

}  // namespace win::models
