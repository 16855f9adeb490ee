#include "app/worker_tuning.h"

#include <malloc.h>
#include <sys/prctl.h>

namespace newsreel::app {

void TuneTranscodingProcess() {
  mallopt(M_ARENA_MAX, 2);
  prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

}  // namespace newsreel::app
