/* The tensors of a model, and their plan, as JSON or as a table. */
#ifndef OI_CLI_RENDER_H
#define OI_CLI_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "onnxinit.h"

/* Any string as JSON (NULL: null). JSON strings are Unicode and names and
 * paths are bytes: a byte that is not part of well-formed UTF-8 becomes the
 * character of the same number (U+0080..U+00FF, "\u00XX"), never dropped. */
json_t *cli_json_text(const char *s);
/* That text as a malloc'ed string (a JSON object's key); NULL: no memory. */
char *cli_utf8_text(const char *s);
/* One object per tensor: name, graph, source, dtype, shape, storage, numel,
 * bytes, role, op, node, fan_in, fan_out, activation, gain, consumers (and
 * conflict, and residual for a tensor of a residual block's branch);
 * with_plan adds scheme, action, std and bound. */
json_t *cli_tensor_json(const oi_tensor_info *t, bool with_plan);
/* {model, ir_version, opset, tensors, warnings} */
json_t *cli_model_json(const oi_model *m, bool with_plan);
/* A 64-bit seed as a decimal string: it does not fit JSON's safe integers. */
json_t *cli_seed_json(uint64_t seed);
/* Print the tensors as an aligned table. */
void cli_print_table(FILE *out, const oi_model *m, bool with_plan);
/* Dump JSON to stdout followed by a newline, and drop it; an exit code
 * (a write error is kept for cli_stdout_close, not printed). */
int cli_print_json(json_t *j);

#endif
