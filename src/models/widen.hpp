// The widening rules of DESIGN §2: the wide teacher B's model config from the thin student S's.
//  - MLP `inner`: the inner width h x k (block outputs unchanged); `plain`: every hidden width x k.
//  - ResNet: every block's inner width x k (the 3x3 conv gets k x channels in and out), stage
//    outputs unchanged; with widen_outputs every channel x k instead.
//  - BERT: hidden, FFN and heads x k (head size kept); the embeddings keep the student's width
//    and a projection maps them to the teacher's hidden size, so both can share token embeddings.
#pragma once

#include "config/deck.hpp"

namespace win::models {

config::ModelConfig teacher_config(const config::ModelConfig& student,
                                   const config::TeacherConfig& teacher);

}  // namespace win::models
