/* onnxinit init MODEL (-o OUT | --in-place) [options] */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char help[] =
	"Usage: onnxinit init MODEL (-o OUT | --in-place) [options]\n"
	"\n"
	"Write MODEL with its weights re-initialized and every other byte kept.\n"
	"\n"
	"  -o, --output OUT          where to write (its external data goes beside it)\n"
	"      --in-place            replace MODEL atomically instead\n"
	"      --scheme SPEC         scheme or profile for every learnable tensor\n"
	"                            (default auto; see README for the list)\n"
	"      --rule SEL=SPEC       per-tensor rule, repeatable, later wins; SEL is\n"
	"                            name:GLOB, role:ROLE, op:OPTYPE or a bare GLOB\n"
	"      --rules FILE          rules from a JSON file (before --rule ones)\n"
	"      --seed N              64-bit seed (default 0)\n"
	"      --dry-run             print the plan, write nothing\n"
	"      --json                machine-readable report on stdout\n"
	"      --no-provenance       do not record provenance in metadata_props\n"
	"      --threads N           worker threads; never changes the bytes written\n"
	"      --in-memory           read the model into memory, build each tensor whole\n"
	"                            (same bytes; for files that cannot be mapped)\n"
	"      --fan-convention C    torch (default) or keras\n"
	"  -q, --quiet               only errors on stderr\n"
	"  -v, --verbose             more on stderr\n"
	"  -h, --help                this text\n";

/* Decimal digits only: no sign, no spaces, no octal or hex surprises. */
static bool parse_u64_arg(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static int run_init(const char *model, const char *out, const oi_init_options *iop, int fans,
                    unsigned open_flags, bool dry, bool json, bool in_place);

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int cmd_init(int argc, char **argv)
{
	enum { O_INPLACE = 256, O_SCHEME, O_SEED, O_DRY, O_JSON, O_NOPROV, O_THREADS, O_FAN,
	       O_RULE, O_RULES, O_INMEM };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "in-place", no_argument, NULL, O_INPLACE },
		{ "scheme", required_argument, NULL, O_SCHEME },
		{ "seed", required_argument, NULL, O_SEED },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "json", no_argument, NULL, O_JSON },
		{ "no-provenance", no_argument, NULL, O_NOPROV },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "fan-convention", required_argument, NULL, O_FAN },
		{ "rule", required_argument, NULL, O_RULE },
		{ "rules", required_argument, NULL, O_RULES },
		{ "in-memory", no_argument, NULL, O_INMEM },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	const char *out = NULL;
	bool in_place = false, dry = false, json = false;
	int fans = OI_FANS_TORCH;
	const char **rules = NULL;
	size_t n_rules = 0;
	const char *rules_file = NULL;
	unsigned open_flags = 0;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case O_INPLACE: in_place = true; break;
		case O_SCHEME: io.scheme = optarg; break;
		case O_SEED:
			if (!parse_u64_arg(optarg, &io.seed))
				return cli_usage_error("init", "--seed takes an integer from 0 to "
				                       "18446744073709551615, not '%s'", optarg);
			break;
		case O_DRY: dry = true; break;
		case O_JSON: json = true; break;
		case O_NOPROV: io.no_provenance = 1; break;
		case O_THREADS: {
			uint64_t n;
			if (!parse_u64_arg(optarg, &n) || n > 1024)
				return cli_usage_error("init", "--threads takes a count from 0 to 1024, not "
				                       "'%s'", optarg);
			io.threads = (unsigned)n;
			break;
		}
		case O_FAN:
			if (strcmp(optarg, "torch") && strcmp(optarg, "keras"))
				return cli_usage_error("init", "--fan-convention must be torch or keras, not "
				                       "'%s'", optarg);
			fans = strcmp(optarg, "keras") ? OI_FANS_TORCH : OI_FANS_KERAS;
			break;
		case O_RULE: {
			const char **r = realloc(rules, (n_rules + 1) * sizeof *rules);
			if (!r)
				return cli_error(EXIT_FAIL, "out of memory");
			rules = r;
			rules[n_rules++] = optarg;
			break;
		}
		case O_RULES:
			rules_file = optarg;
			break;
		case O_INMEM:
			open_flags |= OI_OPEN_IN_MEMORY;
			break;
		case 'q': cli_verbosity = -1; break;
		case 'v': cli_verbosity++; break;
		case 'h': fputs(help, stdout); return EXIT_OK;
		case ':': return cli_usage_error("init", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage_error("init", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("init", "no model given");
	if (argc - optind > 1)
		return cli_usage_error("init", "one model at a time (got '%s' too); see 'onnxinit batch'",
		                       argv[optind + 1]);
	const char *model = argv[optind];
	if (!dry && !out && !in_place)
		return cli_usage_error("init", "say where to write: -o OUT or --in-place");
	if (out && in_place)
		return cli_usage_error("init", "-o and --in-place exclude each other");
	if (out && same_file(model, out))
		return cli_usage_error("init", "the output '%s' is the input; use --in-place to "
		                       "replace it", out);
	if (in_place)
		out = model;
	char *rules_text = NULL;
	if (rules_file) {
		int rrc = cli_read_file(rules_file, &rules_text);
		if (rrc) {
			free(rules);
			return rrc;
		}
	}
	io.rules = rules;
	io.n_rules = n_rules;
	io.rules_json = rules_text;
	io.rules_json_name = rules_file;
	int ret = run_init(model, out, &io, fans, open_flags, dry, json, in_place);
	free(rules);
	free(rules_text);
	return ret;
}

static int run_init(const char *model, const char *out, const oi_init_options *iop, int fans,
                    unsigned open_flags, bool dry, bool json, bool in_place)
{
	oi_init_options io = *iop;
	oi_model *m;
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	oo.flags = open_flags;
	int rc = oi_model_open(&m, model, &oo);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	oi_model_set_fan_convention(m, fans);
	rc = oi_model_plan(m, &io);
	cli_print_warnings(m);
	if (rc) {
		int ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
		oi_model_free(m);
		return ret;
	}
	int ret = EXIT_OK;
	if (dry) {
		if (json)
			ret = cli_print_json(cli_model_json(m, true));
		else
			cli_print_table(stdout, m, true);
		oi_model_free(m);
		return ret;
	}
	cli_install_signal_cleanup();
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = in_place ? OI_SAVE_REPLACE_INPUT : 0;
	so.on_temp = cli_temp_callback;
	rc = oi_model_save(m, out, &so);
	if (rc) {
		ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
	} else {
		if (oi_model_saved_external(m))
			cli_notice("%s: past protobuf's 2 GiB limit, so its weights went to external data "
			           "in '%s'", out, oi_model_saved_external(m));
		if (json) {
			json_t *j = cli_model_json(m, true);
			json_object_set_new(j, "output", json_string(out));
			ret = cli_print_json(j);
		} else if (cli_verbosity > 0) {
			cli_notice("%s: %zu of %zu tensors re-initialized", out, oi_model_changed_count(m),
			           oi_model_tensor_count(m));
		}
	}
	oi_model_free(m);
	return ret;
}
