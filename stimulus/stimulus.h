/* stimulus.h: what is shown to the animal, for the controller: the two
 * stimulus libraries' headers together.
 *   - presenter/presenter.h: the display (SDL2), its timing, photodiode and
 *     sounds, gamma calibration, images written to files; nothing of model/;
 *   - synthesis/synthesis.h: MEIs, controls, ensembles, ground truth, sound
 *     files and most exciting sounds, through the model (model/). */
#ifndef INCEPTION_STIMULUS_H
#define INCEPTION_STIMULUS_H

#include "presenter/presenter.h"
#include "synthesis/synthesis.h"

#endif
