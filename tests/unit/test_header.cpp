// The public header compiles as C++ and links against the library.
#include "onnxinit.h"

#include <cstdio>
#include <cstring>

int main()
{
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	if (io.version != OI_INIT_OPTIONS_VERSION || so.version != OI_SAVE_OPTIONS_VERSION ||
	    oo.version != OI_OPEN_OPTIONS_VERSION)
		return 1;
	oi_data_options dop = OI_DATA_OPTIONS_INIT;
	oi_eval_options eo = OI_EVAL_OPTIONS_INIT;
	oi_pretrain_options po = OI_PRETRAIN_OPTIONS_INIT;
	if (dop.version != OI_DATA_OPTIONS_VERSION || eo.version != OI_EVAL_OPTIONS_VERSION ||
	    po.version != OI_PRETRAIN_OPTIONS_VERSION || dop.batch || po.pass)
		return 1;
	if (std::strcmp(oi_version(), OI_VERSION_STRING) != 0)
		return 1;
	oi_model *m = nullptr;
	if (oi_model_open(&m, "/nonexistent/model.onnx", nullptr) != OI_EIO || m)
		return 1;
	std::printf("1 passed, 0 failed\n");
	return 0;
}
