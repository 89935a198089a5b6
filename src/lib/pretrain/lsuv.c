/* placeholder */
#include "../eval/eval.h"
