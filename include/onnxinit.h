/*
 * onnxinit — re-initialize the weights of ONNX models.
 *
 * The only public header of libonnxinit. Conventions:
 *  - every fallible function returns int: 0 (OI_OK) or a negative OI_E* code;
 *    the detail of the last failure on the calling thread is oi_last_error(),
 *    which such a function sets to "" when it succeeds;
 *  - out-parameters come first; handles are opaque;
 *  - pointers returned by oi_model_* functions (tensor infos and their
 *    strings, schemes, warnings, oi_model_saved_external) are borrowed: they
 *    stay valid, unchanged, until oi_model_free() of the model they came
 *    from, however often it is planned or saved again;
 *  - option structs start with their version: initialize them with their
 *    *_INIT macro, which sets it and zeroes the rest;
 *  - the library never prints, never exits and never installs signal handlers.
 *
 * Threads: one model handle is used by one thread at a time; different
 * handles may be used from different threads at once. A rule set that is
 * no longer being added to may serve plans in several threads at once.
 * oi_last_error() is per thread. See oi_model_save() on OpenBLAS.
 */
#ifndef ONNXINIT_H
#define ONNXINIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(OI_BUILDING_LIBRARY) && defined(__GNUC__)
#define OI_EXTERN __attribute__((visibility("default")))
#else
#define OI_EXTERN
#endif

#define OI_VERSION_MAJOR 0
#define OI_VERSION_MINOR 1
#define OI_VERSION_PATCH 0
#define OI_VERSION_STRING "0.1.0"

/** The library's version string, e.g. "0.1.0". */
OI_EXTERN const char *oi_version(void);

/* ---- errors ------------------------------------------------------------- */

typedef enum oi_error {
	OI_OK = 0,
	OI_ENOMEM = -1,       /* out of memory */
	OI_EIO = -2,          /* a file could not be opened, read or written */
	OI_EFORMAT = -3,      /* the bytes are not a well-formed ONNX protobuf */
	OI_EINVALID = -4,     /* well-formed, but the model contradicts itself */
	OI_EEXTERNAL = -5,    /* external data missing, short or outside the folder */
	OI_ETOOBIG = -6,      /* past a size limit (protobuf's 2 GiB, size overflow) */
	OI_EUNSUPPORTED = -7, /* valid, but something this version cannot do */
	OI_EARG = -8,         /* a bad argument or option from the caller */
	OI_ECONFLICT = -9     /* the output is a file being read, or named like its data */
} oi_error;

/**
 * A short constant name for an error code: "ok", "nomem", "io", "format",
 * "invalid", "external", "toobig", "unsupported", "arg", "conflict"; and
 * "unknown" for a value that is none of the codes.
 */
OI_EXTERN const char *oi_error_name(oi_error code);

/**
 * The message of the last failure on this thread: one line naming the file,
 * and the tensor or node where one is involved. Never NULL; "" if the last
 * fallible call succeeded.
 */
OI_EXTERN const char *oi_last_error(void);

/* ---- ONNX enums mirrored for callers who do not see the schema ----------- */

/** ONNX TensorProto.DataType values. */
typedef enum oi_dtype {
	OI_DTYPE_UNDEFINED = 0,
	OI_DTYPE_FLOAT = 1,
	OI_DTYPE_UINT8 = 2,
	OI_DTYPE_INT8 = 3,
	OI_DTYPE_UINT16 = 4,
	OI_DTYPE_INT16 = 5,
	OI_DTYPE_INT32 = 6,
	OI_DTYPE_INT64 = 7,
	OI_DTYPE_STRING = 8,
	OI_DTYPE_BOOL = 9,
	OI_DTYPE_FLOAT16 = 10,
	OI_DTYPE_DOUBLE = 11,
	OI_DTYPE_UINT32 = 12,
	OI_DTYPE_UINT64 = 13,
	OI_DTYPE_COMPLEX64 = 14,
	OI_DTYPE_COMPLEX128 = 15,
	OI_DTYPE_BFLOAT16 = 16,
	OI_DTYPE_FLOAT8E4M3FN = 17,
	OI_DTYPE_FLOAT8E4M3FNUZ = 18,
	OI_DTYPE_FLOAT8E5M2 = 19,
	OI_DTYPE_FLOAT8E5M2FNUZ = 20,
	OI_DTYPE_UINT4 = 21,
	OI_DTYPE_INT4 = 22,
	OI_DTYPE_FLOAT4E2M1 = 23
} oi_dtype;

/** "float32", "float16", "bfloat16", "int64", ...; "unknown" otherwise. */
OI_EXTERN const char *oi_dtype_name(oi_dtype dtype);

/** Where a tensor was found. */
typedef enum oi_source {
	OI_SOURCE_INITIALIZER = 0,
	OI_SOURCE_CONSTANT_NODE = 1,     /* Constant node, value or sparse_value */
	OI_SOURCE_SPARSE_INITIALIZER = 2,
	OI_SOURCE_ATTRIBUTE = 3          /* a tensor attribute of any other node */
} oi_source;
/** "initializer", "constant_node", "sparse_initializer", "attribute". */
OI_EXTERN const char *oi_source_name(oi_source source);

/** How a tensor's payload is stored. */
typedef enum oi_storage {
	OI_STORAGE_RAW = 0,      /* raw_data */
	OI_STORAGE_TYPED = 1,    /* float_data, int32_data, double_data, ... */
	OI_STORAGE_EXTERNAL = 2  /* a file beside the model */
} oi_storage;
/** "raw", "typed", "external". */
OI_EXTERN const char *oi_storage_name(oi_storage storage);

/** What re-initialization does to a tensor. */
typedef enum oi_action {
	OI_ACTION_KEEP = 0,   /* left exactly as it was */
	OI_ACTION_REINIT = 1, /* new values from a scheme */
	OI_ACTION_DONOR = 2   /* values from a donor (oi_init_options.donor) */
} oi_action;
/** "keep", "reinit", "donor"; "unknown" otherwise. */
OI_EXTERN const char *oi_action_name(oi_action action);

/* ---- models ------------------------------------------------------------- */

typedef struct oi_model oi_model;

/**
 * One tensor of a model. Read-only; owned by the model. New fields are only
 * ever added at the end.
 */
typedef struct oi_tensor_info {
	const char *name;      /* tensor name (Constant node: its output) */
	const char *graph;     /* "main", "main/If_3.then_branch", "function:dom.F" */
	int source;            /* oi_source */
	int dtype;             /* oi_dtype */
	size_t ndim;
	const int64_t *dims;   /* ndim entries (dense shape for sparse tensors) */
	int storage;           /* oi_storage */
	uint64_t numel;        /* stored elements (values only, for sparse) */
	uint64_t nbytes;       /* payload bytes as stored */
	/* analysis (oi_model_analyse); NULL / -1 / NaN where not known */
	const char *role;
	const char *op;        /* op type of the consuming node */
	const char *node;      /* name of the consuming node */
	int64_t fan_in, fan_out;
	const char *activation;
	double gain;
	/* plan, after oi_model_plan(); scheme is NULL before; each plan sets a
	 * new string, the previous one staying valid */
	int action;            /* oi_action */
	const char *scheme;
	/* analysis, continued */
	size_t consumers;      /* nodes that read it (through layout ops) */
	const char *conflict;  /* NULL, or what its consumers disagree on */
	double act_slope;      /* leaky_relu: the negative slope; else NaN */
	/* plan, continued: the std and the bound |x| <= bound of the new values
	 * (after truncation, for truncated schemes); NaN where unbounded/unknown */
	double std, bound;
	/* plan: a tensor the plan added because the readers of untied_from want
	 * other values than its first readers (NULL for the model's own) */
	const char *untied_from;
	/* analysis: the residual block whose branch this tensor's layer (or
	 * norm) is in: an Add (or Sum) joining a skip path (the identity, or one
	 * conv/dense layer with its norm) and a branch of layers from the same
	 * tensor. residual_block is 0 for a tensor of no branch (and then so are
	 * the others). Numbers count from 1. */
	int residual_block;    /* the block's place in its chain of blocks */
	int residual_blocks;   /* blocks in the chain: residual Adds on one stream */
	int residual_index;    /* its layer's place among the branch's conv/dense
	                          layers; a norm's: the layer before it, 0 if none */
	int residual_length;   /* conv/dense layers in the branch */
	int residual_last;     /* 1: of the branch's last layer, or of a norm after it */
	const char *residual_add; /* the node that ends the branch (the Add) */
	/* plan with a donor: how it went (oi_donor_status); action DONOR: the
	 * donor tensors its values come from and the transforms applied
	 * ("transpose", "cast", "fold_bn", "rnn_gates"), in order; donor_match
	 * how they were found ("map", "name", "module", "position"); a
	 * mismatched one: donor_note says why (both shapes) */
	int donor_status;
	size_t n_donor;
	const char *const *donor;
	size_t n_transform;
	const char *const *transform;
	const char *donor_match;
	const char *donor_note;
} oi_tensor_info;

/** What a plan with a donor did with a tensor (Hugging Face's words). */
typedef enum oi_donor_status {
	OI_DONOR_NONE = 0,       /* no donor, or a tensor it does not concern */
	OI_DONOR_MATCHED = 1,    /* it gets the donor's values */
	OI_DONOR_MISSING = 2,    /* learnable, and the donor has nothing for it */
	OI_DONOR_MISMATCHED = 3, /* the donor has a tensor for it that does not fit */
	OI_DONOR_RULE = 4        /* a rule naming it decides instead */
} oi_donor_status;

#define OI_OPEN_OPTIONS_VERSION 1
/** Open flags. */
enum {
	/* Let a node read a name nothing defines (a warning instead of an error):
	 * for looking at a broken model; such a model is not fit to rewrite. */
	OI_OPEN_LENIENT = 1u << 0,
	/* Read the model into memory instead of mapping it: the same bytes as
	 * the mapped path (values generated in the same chunks), in more
	 * memory; for files that cannot be mapped. */
	OI_OPEN_IN_MEMORY = 1u << 1
};
typedef struct oi_open_options {
	unsigned version;   /* OI_OPEN_OPTIONS_VERSION */
	unsigned flags;     /* OI_OPEN_* */
} oi_open_options;
#ifdef __cplusplus /* no designated initializers before C++20: every field */
#define OI_OPEN_OPTIONS_INIT { OI_OPEN_OPTIONS_VERSION, 0 }
#else
#define OI_OPEN_OPTIONS_INIT { .version = OI_OPEN_OPTIONS_VERSION }
#endif

/**
 * Open and validate the model at path. The file is mapped, not copied:
 * tensor payloads stay on disk until a save streams them out. opts may be
 * NULL. On failure *out is NULL and oi_last_error() says why.
 */
OI_EXTERN int oi_model_open(oi_model **out, const char *path,
                            const oi_open_options *opts);

/** Free a model; NULL is fine. */
OI_EXTERN void oi_model_free(oi_model *model);

OI_EXTERN const char *oi_model_path(const oi_model *model);
OI_EXTERN int64_t oi_model_ir_version(const oi_model *model);
OI_EXTERN size_t oi_model_opset_count(const oi_model *model);
/** The i-th opset import; domain "" is the default ONNX domain. */
OI_EXTERN int oi_model_opset(const oi_model *model, size_t i,
                             const char **domain, int64_t *version);

/* ---- analysis ----------------------------------------------------------- */

/** Fan conventions: torch (torch.nn.init._calculate_fan_in_and_fan_out on
 *  the PyTorch parameter) or keras (Keras 3 compute_fans on the Keras kernel). */
typedef enum oi_fan_convention {
	OI_FANS_TORCH = 0,
	OI_FANS_KERAS = 1
} oi_fan_convention;

#define OI_ANALYSE_OPTIONS_VERSION 1
typedef struct oi_analyse_options {
	unsigned version;                  /* OI_ANALYSE_OPTIONS_VERSION */
	oi_fan_convention fan_convention;  /* of fan_in/fan_out, and of the plan's schemes */
} oi_analyse_options;
#define OI_ANALYSE_OPTIONS_INIT { OI_ANALYSE_OPTIONS_VERSION, OI_FANS_TORCH }

/**
 * Decide what every tensor is: its role, consumer, fans, activation and
 * gain (the analysis fields of oi_tensor_info, unset until then). opts may be
 * NULL: the torch convention. Calling it again (another convention) redoes
 * the analysis, replacing the warnings of the last analysis and plan;
 * oi_model_plan() analyses a model not yet analysed with the defaults.
 */
OI_EXTERN int oi_model_analyse(oi_model *model, const oi_analyse_options *opts);

/** What the load and the analysis noticed (and, after oi_model_plan(), the
 *  plan): names nothing defines (OI_OPEN_LENIENT), tensors the analysis
 *  could not place, consumers that disagree, odd graphs, rules that match
 *  nothing. One line each, without the file name. A plan drops the previous
 *  plan's warnings (their strings stay valid) and keeps the load's and the
 *  analysis's. */
OI_EXTERN size_t oi_model_warning_count(const oi_model *model);
OI_EXTERN const char *oi_model_warning(const oi_model *model, size_t i);

OI_EXTERN size_t oi_model_tensor_count(const oi_model *model);
/** The i-th tensor, in file order of the graphs; NULL if i is out of range. */
OI_EXTERN const oi_tensor_info *oi_model_tensor(const oi_model *model, size_t i);

/* ---- rules -------------------------------------------------------------- */

/**
 * Rules give the tensors they select a scheme other than the default one.
 * A rule is "SELECTOR=SPEC"; SELECTOR is a name glob, name:GLOB, role:ROLE
 * or op:GLOB (fnmatch globs). The caller builds the set; each add checks
 * what it adds (the selector, the role, the SPEC's scheme and parameters)
 * and fails with OI_EARG and a message quoting the text, leaving the set as
 * it was. Rules apply in the order added: a later match wins.
 * A plan reads the set and never changes it: once built, one set may serve
 * any number of plans, in any number of threads at once.
 */
typedef struct oi_rules oi_rules;

/** A new, empty rule set. */
OI_EXTERN int oi_rules_new(oi_rules **out);
/** Free a rule set; NULL is fine. */
OI_EXTERN void oi_rules_free(oi_rules *rules);
/** Add one rule, "SELECTOR=SPEC". */
OI_EXTERN int oi_rules_add(oi_rules *rules, const char *rule);
/**
 * Add the rules of a rules file's text: {"scheme": SPEC, "rules": [...]} or
 * just [...], each rule "SELECTOR=SPEC" or {"select": SELECTOR, "scheme":
 * SPEC}. name names it in messages (NULL: "rules file"). Its "scheme" is the
 * default scheme of plans whose options give none, replacing the one of a
 * file added before; it is checked when a plan uses it.
 */
OI_EXTERN int oi_rules_add_json(oi_rules *rules, const char *json, const char *name);

/* ---- donors ------------------------------------------------------------- */

/**
 * A donor: tensors whose values a plan copies into a model where they fit.
 * The format is found from the content: a safetensors file, an .npz archive,
 * a folder of NAME.npy files, or an ONNX model (its external data, Constant
 * nodes and subgraphs too). The donor's bytes stay mapped; the save reads
 * them, so the donor must stay open until the models planned with it are
 * saved (or planned again, or freed). Once opened (and mapped), one donor
 * may serve plans in several threads at once.
 */
typedef struct oi_donor oi_donor;
OI_EXTERN int oi_donor_open(oi_donor **out, const char *path);
/** Free a donor; NULL is fine. */
OI_EXTERN void oi_donor_free(oi_donor *donor);
/** "safetensors", "npz", "npy", "onnx". */
OI_EXTERN const char *oi_donor_format(const oi_donor *donor);
OI_EXTERN size_t oi_donor_tensor_count(const oi_donor *donor);
/** The i-th tensor's name (file order), NULL if out of range. */
OI_EXTERN const char *oi_donor_tensor_name(const oi_donor *donor, size_t i);
/**
 * Set the name map, a JSON object {"target name or glob": "donor name"},
 * consulted before any other matching, in its order; a '*' in a value
 * stands for what the key's first '*' matched. name names it in messages.
 * OI_EARG if it is not such an object. Not while a plan uses the donor.
 */
OI_EXTERN int oi_donor_set_map(oi_donor *donor, const char *json, const char *name);

/** What a plan does with a learnable tensor the donor does not provide. */
typedef enum oi_unmatched {
	OI_UNMATCHED_SCHEME = 0, /* the scheme (profile, rules) fills it */
	OI_UNMATCHED_KEEP = 1,   /* it keeps its values */
	OI_UNMATCHED_ERROR = 2   /* the plan fails (OI_EINVALID) */
} oi_unmatched;

/** Donor tensors the last plan used for nothing (Hugging Face's
 *  "unexpected"; BatchNorm num_batches_tracked counters are not listed). */
OI_EXTERN size_t oi_model_donor_unexpected_count(const oi_model *model);
OI_EXTERN const char *oi_model_donor_unexpected(const oi_model *model, size_t i);

/* ---- re-initialization -------------------------------------------------- */

/**
 * What the plan does to residual blocks (see oi_tensor_info.residual_*):
 *  - NONE: nothing;
 *  - ZERO: the branch's last norm scale 0 (a norm after its last layer), or
 *    with none, its last layer's weight and bias 0 (torchvision's
 *    zero_init_residual; Goyal et al. 2017);
 *  - SCALED: the branch's last layer's weight times 1/sqrt(L), L the blocks
 *    in the chain (GPT-2's and Megatron's std/sqrt(2 n_layer));
 *  - FIXUP: Fixup (Zhang et al. 2019): every branch layer but the last
 *    N(0, 2/fan_out) times L^(-1/(2m-2)), m the branch's layers; the last
 *    layer's weight and bias 0; the last dense layer (the classifier) and
 *    its bias 0.
 * DEFAULT is NONE, or the mode the default profile implies (gpt2: SCALED).
 * A rule that selects a tensor by name gives it its scheme unadjusted.
 */
typedef enum oi_residual {
	OI_RESIDUAL_DEFAULT = 0,
	OI_RESIDUAL_NONE = 1,
	OI_RESIDUAL_ZERO = 2,
	OI_RESIDUAL_SCALED = 3,
	OI_RESIDUAL_FIXUP = 4
} oi_residual;
/** "default", "none", "zero", "scaled", "fixup"; "unknown" otherwise. */
OI_EXTERN const char *oi_residual_name(oi_residual mode);

#define OI_INIT_OPTIONS_VERSION 3
typedef struct oi_init_options {
	unsigned version;      /* OI_INIT_OPTIONS_VERSION */
	const char *scheme;    /* default scheme or profile SPEC; NULL: the rules
	                          file's "scheme", else "auto" */
	uint64_t seed;
	int no_provenance;     /* do not record provenance in metadata_props */
	const oi_rules *rules; /* NULL: none; only read, and only during the call */
	/* keep a tensor whose readers want different values shared (its first
	 * reader decides, as the analysis reports) instead of untying it */
	int no_untie;
	oi_residual residual;  /* residual blocks; OI_RESIDUAL_DEFAULT: the profile's */
	/* since version 3 (a version 2 struct, which ends here, is accepted):
	 * values from a donor where it has them (NULL: none). Matching, first
	 * hit: the donor's map; the same name; the PyTorch module path of the
	 * consuming node's scope; for an ONNX donor the same place in its graph.
	 * A rule whose selector is a name beats the donor; the scheme "donor"
	 * in a rule asks for the donor's value (OI_EINVALID if it has none). */
	const oi_donor *donor;
	oi_unmatched unmatched; /* learnable tensors the donor does not provide */
	double bn_eps;          /* BatchNorm epsilon for folding; 0: 1e-5 */
} oi_init_options;
#ifdef __cplusplus
#define OI_INIT_OPTIONS_INIT { OI_INIT_OPTIONS_VERSION, NULL, 0, 0, NULL, 0, OI_RESIDUAL_DEFAULT, \
                               NULL, OI_UNMATCHED_SCHEME, 0.0 }
#else
#define OI_INIT_OPTIONS_INIT { .version = OI_INIT_OPTIONS_VERSION }
#endif

/**
 * Decide the action and scheme of every tensor. Nothing is generated yet:
 * the new values are produced while oi_model_save() streams the output.
 * Fails with OI_EARG (and a message quoting the text) on a bad default
 * SPEC, or a scheme a rule gives to a tensor it cannot fill; the tensors are
 * then all kept. Rules that match nothing, and tensors the default scheme
 * cannot fill (which then follow the auto profile), are reported as
 * warnings, in place of the previous plan's.
 * An initializer whose elements are all equal and whose readers would get
 * different values (an exporter merged two parameters: a BatchNorm's weight
 * and running_var, a zero bias and a LayerNorm's bias) is untied: each
 * group of readers that gets other values than its first reader gets a new
 * initializer "NAME.untied.K", listed after the model's tensors with
 * untied_from set, and the save points those readers at it (unless
 * no_untie). Name rules select it by the original's name.
 * The residual mode then changes the schemes of the residual blocks'
 * branches (see oi_residual; an untied copy is in no branch); with a mode
 * but no blocks, a warning says that nothing changes. OI_EARG for a mode
 * that is none of oi_residual's.
 */
OI_EXTERN int oi_model_plan(oi_model *model, const oi_init_options *opts);

/** Number of tensors whose action is not OI_ACTION_KEEP. */
OI_EXTERN size_t oi_model_changed_count(const oi_model *model);

/**
 * A seed derived from another and a text: SplitMix64's finalizer of (seed XOR
 * FNV-1a-64(text)). batch gives each model the seed derived from --seed and
 * its path below its root, so that a tree's bytes depend on nothing else.
 */
OI_EXTERN uint64_t oi_derive_seed(uint64_t seed, const char *text);

/* ---- saving ------------------------------------------------------------- */

/** Called with each temporary file the save creates (created = 1) and when it
 *  is gone, renamed or removed (created = 0), so that a program can remove
 *  the temporaries from a signal handler. A data file already under its
 *  name but not yet named by the output (the model's rename commits it) is
 *  reported as one until just before that rename. */
typedef void (*oi_temp_callback)(const char *path, int created, void *userdata);

typedef struct oi_commit_group oi_commit_group;

#define OI_SAVE_OPTIONS_VERSION 3
/** Save flags. */
enum {
	/* The output may replace the files the model was read from (in-place). */
	OI_SAVE_REPLACE_INPUT = 1u << 0,
	/* Do not fsync the output's folder after the rename; the caller does it
	 * once for many outputs (batch). The file itself is always fsynced. */
	OI_SAVE_DEFER_DIR_SYNC = 1u << 1,
	/* No fsync at all: an output is still complete or absent for every
	 * reader and after any crash of the process, but not after a power
	 * failure. For scratch outputs (CI) where speed matters more. */
	OI_SAVE_NO_FSYNC = 1u << 2
};
typedef struct oi_save_options {
	unsigned version;          /* OI_SAVE_OPTIONS_VERSION */
	unsigned flags;            /* OI_SAVE_* */
	oi_temp_callback on_temp;  /* may be NULL */
	void *userdata;
	/* if set, the save stops (OI_EIO, "interrupted", nothing left behind) as
	 * soon as it sees *cancel nonzero; a signal handler may set it */
	const volatile int *cancel;
	/* threads that generate the new values; 0: as many as cores (at most
	 * 64). Never changes the bytes. (Since version 2; a version 1 struct,
	 * which ends before it, is still accepted.) */
	unsigned threads;
	/* if set, the save writes its files into this group and returns; the
	 * group's oi_commit_group_commit() syncs and commits them (see there).
	 * (Since version 3; a version 2 struct ends before it.) */
	oi_commit_group *group;
} oi_save_options;
#ifdef __cplusplus
#define OI_SAVE_OPTIONS_INIT { OI_SAVE_OPTIONS_VERSION, 0, NULL, NULL, NULL, 0, NULL }
#else
#define OI_SAVE_OPTIONS_INIT { .version = OI_SAVE_OPTIONS_VERSION }
#endif

/**
 * Write the model, with the planned tensors re-initialized and every other
 * byte as it was, to path. opts may be NULL.
 *
 * Every file is written to a temporary ".NAME.oi-XXXXXX" beside it and
 * fsynced; the rename of the model's is the commit: before it, path is the
 * old model with its own data, after it the new one with all of its data.
 * A save that fails, is cancelled or is killed leaves the output as it was.
 * With opts->group, the save writes its files and returns: the group syncs
 * and commits them (oi_commit_group_commit), many saves with one sync.
 *
 * External data keeps its layout (offsets, lengths) and goes beside path:
 * under the input's location if that name is free there (an unchanged file
 * the output reaches by that name is shared, not copied), else under a name
 * made of the output's ("out.onnx.data" for "m.onnx.data", or
 * "out.onnx.weights.bin"), else with a unique part ("out.onnx.1f3a9c2e.data").
 * A file by that name is never replaced before the commit, and then only a
 * stale one: named after the output, named by no model the save knows of,
 * written by no running save of the output. Data files take their names
 * just before the model is written, so a save killed before its commit may
 * leave one that no model names. After the commit, the data files the
 * replaced model named and the new one does not are removed if they were
 * that model's alone: named as this save names data files (in place: after
 * the model, "m.onnx.data", "m.data") and holding nothing but its tensors
 * and zeros. Any other file may be another model's, and stays.
 * Two saves of one output at once each write a model with its own data; the
 * last rename wins, and the other's data file may remain, named by nothing.
 *
 * Stale temporaries: a save holds flock(LOCK_EX) on each temporary from its
 * creation to its rename or removal (the lock ends with the process, even
 * with kill -9). It first removes the temporaries of its output and of its
 * data files that nobody holds: those of a killed save.
 *
 * Refused (OI_ECONFLICT), before anything is written: path is the input
 * model (unless OI_SAVE_REPLACE_INPUT), one of its external data files, or
 * the name one of them would have beside path. OI_EIO if path is a folder,
 * or if an input changed size while it was read (another program cut it).
 *
 * OpenBLAS: the orthogonal scheme runs a blocked QR (LAPACK ?geqrt3 and
 * BLAS ?gemm/?trmm; float32 for every target type but double) on the save's
 * worker threads, each OpenBLAS call on one BLAS thread, cut the same way
 * whatever the thread count, so that the bytes never depend on --threads.
 * OpenBLAS's thread count is process-wide (with its pthread build): the
 * save sets it to 1 around that work, one such change at a time in the
 * process (the data passes take the same lock), and restores it after;
 * OpenBLAS work of the program's own threads during that time runs on one
 * thread. OpenBLAS is loaded on first use; if it cannot be, such a save
 * fails with OI_EUNSUPPORTED.
 */
OI_EXTERN int oi_model_save(oi_model *model, const char *path,
                            const oi_save_options *opts);

/* ---- committing many saves at once ------------------------------------- */

/**
 * A commit group: saves that share one sync instead of syncing each file.
 *
 * A save given a group (oi_save_options.group) writes its files as any save
 * does (temporaries beside the targets, locked; data files under free names)
 * but neither syncs nor commits them: it returns 0 once they are written,
 * the output still as it was. oi_commit_group_commit() then, for all the
 * saves of the group at once: syncs their files (one syncfs per file system
 * they are on), renames the data files that replace stale ones, syncs the
 * folders of the data files (once each), renames each model into place (the
 * commit point of each save, as for a save without a group), and syncs each
 * folder that received a model once (not with OI_SAVE_DEFER_DIR_SYNC). So a
 * model is never renamed before its bytes are on disk, and each output is
 * complete or absent whatever kills the program, as without a group; the
 * cost is one sync for many models. A save with OI_SAVE_NO_FSYNC in a group
 * is committed without syncing anything.
 *
 * Until the group is committed or freed, a model saved into it must be
 * neither freed nor saved again (the commit still reads it), and the save's
 * on_temp callback and userdata stay in use. A group is used by one thread
 * at a time; different groups may be used from different threads at once.
 */
OI_EXTERN int oi_commit_group_new(oi_commit_group **group);

/** Called by oi_commit_group_commit() once per save of the group, in the
 *  order of the saves: the save's path, its result (0: the output is the
 *  new model with its data; else the output is as it was and
 *  oi_last_error() says why, while the callback runs), and the userdata of
 *  the save's options. */
typedef void (*oi_commit_callback)(const char *path, int rc, void *userdata);

/** Commit every save of the group (see oi_commit_group_new), calling done
 *  (may be NULL) with each one's result; the group is then empty, its
 *  models free to be freed or saved again. Returns 0 if every save was
 *  committed, else the first failure's code (and oi_last_error() its
 *  message); the saves that did not fail are committed all the same. */
OI_EXTERN int oi_commit_group_commit(oi_commit_group *group, oi_commit_callback done);

/** The saves waiting in the group. */
OI_EXTERN size_t oi_commit_group_size(const oi_commit_group *group);

/** Free the group (NULL: nothing). Saves not yet committed are abandoned:
 *  their temporaries and data files are removed, their outputs stay as they
 *  were. */
OI_EXTERN void oi_commit_group_free(oi_commit_group *group);

/** Set after a save that had to move tensors to external data because the
 *  model would have passed protobuf's 2 GiB limit: the data file's name;
 *  NULL after a save that did not. */
OI_EXTERN const char *oi_model_saved_external(const oi_model *model);

/* ---- data and the data-driven passes ------------------------------------ */

/**
 * Data the passes run the model on: a .npy file (the model's only input;
 * the first axis numbers the samples), an .npz archive (arrays named after
 * the model's inputs, or one array), or "normal" / "uniform" (random N(0, 1)
 * / U(0, 1) inputs of the inputs' shapes, from the seed). Any integer or
 * float dtype; float inputs get float32 values times scale, integer inputs
 * the integers. A file is read whole and checked when opened: its header,
 * its size, and that every value is finite (NaN/Inf: OI_EINVALID naming the
 * first index). An opened data set is only read: it may serve several
 * models and threads at once.
 */
typedef struct oi_data oi_data;

#define OI_DATA_OPTIONS_VERSION 1
typedef struct oi_data_options {
	unsigned version;                /* OI_DATA_OPTIONS_VERSION */
	size_t batch;                    /* samples per forward pass; 0: 64. A fixed
	                                    batch dim in the model wins. */
	double scale;                    /* float inputs are multiplied by it; 0: 1 */
	uint64_t seed;                   /* random data: the values' seed */
	/* "NAME=D,D,...": the whole shape of an input, for random data where the
	 * model leaves dims other than the first symbolic */
	const char *const *input_shapes;
	size_t n_input_shapes;
} oi_data_options;
#ifdef __cplusplus
#define OI_DATA_OPTIONS_INIT { OI_DATA_OPTIONS_VERSION, 0, 0.0, 0, NULL, 0 }
#else
#define OI_DATA_OPTIONS_INIT { .version = OI_DATA_OPTIONS_VERSION }
#endif

/** Open a .npy / .npz file, or "normal" / "uniform". opts may be NULL. */
OI_EXTERN int oi_data_open(oi_data **out, const char *data, const oi_data_options *opts);
/** The same from bytes in memory (a copy is kept); name names it in messages. */
OI_EXTERN int oi_data_open_memory(oi_data **out, const void *bytes, size_t len,
                                  const char *name, const oi_data_options *opts);
OI_EXTERN void oi_data_free(oi_data *data);
/** The file's base name, or "normal" / "uniform". */
OI_EXTERN const char *oi_data_name(const oi_data *data);
/** The hex SHA-256 of the file; NULL for random data. */
OI_EXTERN const char *oi_data_sha256(const oi_data *data);
/** The arrays of a file ("" names a .npy's), with their shapes. */
OI_EXTERN size_t oi_data_array_count(const oi_data *data);
OI_EXTERN int oi_data_array(const oi_data *data, size_t i, const char **name, size_t *ndim,
                            const int64_t **dims);

/** Statistics of a value over the batch (population std; zeros: the
 *  fraction of elements exactly 0). NaN where nothing was measured. */
typedef struct oi_value_stats {
	double mean, std, min, max, zeros;
} oi_value_stats;

/** One layer (Conv, ConvTranspose, Gemm, MatMul with a constant operand,
 *  measured after its bias Add) or activation node of a pass. */
typedef struct oi_layer_report {
	const char *node;       /* its name (or "<op>_<index>") */
	const char *op;         /* its op type */
	const char *output;     /* the value measured */
	oi_value_stats stats;   /* stats: the output; pretrain: after the pass */
	/* pretrain only (else NULL / 0 / NaN): */
	const char *weight;     /* the tensor the pass scales */
	const char *status;     /* "done", "max_iter" (tolerance not reached),
	                           "dead" (variance 0: left), "kept" (a rule keeps
	                           the weight), "shared" (the weight is not the
	                           layer's alone, or not a plain tensor: left) */
	unsigned iterations;    /* lsuv: scalings; autoencoder: epochs trained */
	double variance;        /* the output's final variance */
	oi_value_stats before;  /* the output when the pass reached the layer */
	/* autoencoder only (else NaN): the mean squared reconstruction error of
	 * the layer's clean input over the samples, before and after; the
	 * seconds its training took */
	double loss_before, loss_after, seconds;
} oi_layer_report;

/** What a pass found: its layers in graph order and its warnings (an op
 *  the evaluator does not know, dead layers). Owned by the caller. */
typedef struct oi_report oi_report;
OI_EXTERN size_t oi_report_layer_count(const oi_report *r);
OI_EXTERN const oi_layer_report *oi_report_layer(const oi_report *r, size_t i);
OI_EXTERN size_t oi_report_warning_count(const oi_report *r);
OI_EXTERN const char *oi_report_warning(const oi_report *r, size_t i);
/** The number of graph nodes the forward pass ran, and of the main graph. */
OI_EXTERN size_t oi_report_nodes_run(const oi_report *r);
OI_EXTERN size_t oi_report_nodes_total(const oi_report *r);
OI_EXTERN void oi_report_free(oi_report *r);

#define OI_EVAL_OPTIONS_VERSION 1
typedef struct oi_eval_options {
	unsigned version;  /* OI_EVAL_OPTIONS_VERSION */
	/* threads of the forward pass; 0: as many as cores. For a given
	 * count, the same model and data give the same results. */
	unsigned threads;
} oi_eval_options;
#ifdef __cplusplus
#define OI_EVAL_OPTIONS_INIT { OI_EVAL_OPTIONS_VERSION, 0 }
#else
#define OI_EVAL_OPTIONS_INIT { .version = OI_EVAL_OPTIONS_VERSION }
#endif

/**
 * Run the main graph forward in float32 on the first batch of data, with
 * the values the model would be saved with (the plan's, if planned), and
 * measure every layer and activation. An op the evaluator does not know
 * ends the run there with a warning; no layer reached is OI_EUNSUPPORTED.
 * Data that does not fit the model's inputs is OI_EINVALID, naming both
 * shapes. opts may be NULL.
 *
 * Threads: the pass splits its convolutions by samples among its own
 * threads, each calling OpenBLAS on one thread. OpenBLAS's thread count is
 * the process's: the pass sets it to 1 and puts back what it found, one pass
 * at a time in the process; OpenBLAS work of the program's own threads
 * during that time runs on one thread.
 */
OI_EXTERN int oi_model_stats(oi_report **out, oi_model *model, const oi_data *data,
                             const oi_eval_options *opts);

/** Where a training pass is, for a progress display: after each epoch
 *  (epoch 0: the error before training). */
typedef struct oi_pretrain_progress {
	size_t layer, layers;   /* 1-based: the layer trained of those to train */
	const char *node;       /* its node */
	unsigned epoch, epochs;
	double loss;            /* mean squared reconstruction error of the epoch */
} oi_pretrain_progress;

#define OI_PRETRAIN_OPTIONS_VERSION 2
typedef struct oi_pretrain_options {
	unsigned version;       /* OI_PRETRAIN_OPTIONS_VERSION (1: without progress) */
	/* "lsuv", "lsuv(tol=0.1,max_iter=10,ortho=true)" or
	 * "autoencoder(epochs=5,lr=0.001,batch=64,noise=0.2,optimizer=adam,samples=all)" */
	const char *pass;
	unsigned threads;       /* as oi_eval_options.threads */
	uint64_t seed;          /* of ortho's orthogonal values, of the autoencoder's
	                           minibatch order and noise (the plan's seed) */
	const oi_rules *rules;  /* the plan's: a tensor a rule keeps is never changed */
	int no_provenance;      /* as the plan's */
	/* version 2: called from the calling thread while the pass runs; NULL: none */
	void (*progress)(void *user, const oi_pretrain_progress *p);
	void *progress_user;
} oi_pretrain_options;
#ifdef __cplusplus
#define OI_PRETRAIN_OPTIONS_INIT { OI_PRETRAIN_OPTIONS_VERSION, NULL, 0, 0, NULL, 0, NULL, NULL }
#else
#define OI_PRETRAIN_OPTIONS_INIT { .version = OI_PRETRAIN_OPTIONS_VERSION }
#endif

/**
 * After oi_model_plan(): change the planned values of the layers the pass
 * reaches, from the planned values (a kept tensor: the model's own).
 * lsuv (Mishkin & Matas 2015, "All you need is a good init"): with ortho,
 * conv and dense weights first get orthonormal values (orthogonal(gain=1),
 * from seed); then, in graph order, each layer's weight is multiplied by
 * 1/sqrt(Var(output)) on the batch until |Var - 1| < tol, at most max_iter
 * times. Biases keep their planned values. A layer whose output has
 * variance 0 is left as it is, with a warning. The changed tensors are
 * saved by oi_model_save() like any planned tensor (their scheme reads
 * "lsuv(...)"); provenance gets "pretrain": {"pass", "params", "data",
 * "sha256", "batch"}. OI_EARG for an unknown pass or parameter. The same
 * model, plan, data, options and threads give the same values. opts must
 * name the pass.
 *
 * autoencoder (Bengio et al. 2007; Vincent et al. 2008): greedy layer-wise
 * denoising autoencoders. In graph order, each dense (Gemm, MatMul + Add)
 * and conv layer (group 1) that does not make a graph output is trained on
 * the output of the layers before it (already trained) over the first
 * `samples` samples: the encoder is the layer and the activation after it,
 * the decoder the transposed (ConvTranspose) weight with a bias of its own,
 * dropped afterwards; a fraction `noise` of the inputs is set to 0, the loss
 * is the mean squared error of the clean input; `epochs` passes of
 * minibatches of `batch` with adam (0.9, 0.999, 1e-8) or sgd (momentum 0.9),
 * learning rate `lr`. Weights and biases change. Minibatch order and noise
 * come from seed. Data with fewer samples than one batch, lr <= 0, noise
 * outside [0, 1): OI_EARG / OI_EINVALID; a NaN error stops the pass
 * (OI_EINVALID naming layer and epoch), nothing changed.
 */
OI_EXTERN int oi_model_pretrain(oi_report **out, oi_model *model, const oi_data *data,
                                const oi_pretrain_options *opts);

#ifdef __cplusplus
}
#endif
#endif /* ONNXINIT_H */
