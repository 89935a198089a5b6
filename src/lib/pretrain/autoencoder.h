/* One layer's denoising autoencoder, for the pass (autoencoder.c) and the
 * unit tests (gradients against finite differences). */
#ifndef OI_AUTOENCODER_H
#define OI_AUTOENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ae_act { AE_LINEAR, AE_SIGMOID, AE_TANH, AE_RELU, AE_LEAKY, AE_ELU } ae_act;

typedef struct ae_layer {
	bool conv;
	ae_act act;
	float alpha;          /* LeakyRelu's, Elu's */
	size_t din;           /* floats per row: dense inputs, or C·H·W of an image */
	size_t dout;          /* dense outputs */
	/* conv (group 1, 2-D; a 1-D conv has H = kh = 1): */
	int64_t C, H, W, M, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
	size_t conv_chunk;    /* conv samples an sgemm takes (0: up to ~16 MB of columns) */
	/* dense: w is din×dout; conv: M×(C·kh·kw), the ONNX layout */
	size_t nw;
	float *w, *b, *c;     /* weight, encoder bias, decoder bias */
	float *gw, *gb, *gc;  /* their gradients */
	float *m1, *m2;       /* the optimizer's moments */
	float *mem;
	bool train_b;         /* the encoder bias is the layer's own: trained */
	unsigned long t;      /* steps taken */
	void *scratch;
} ae_layer;

typedef struct ae_opts {
	unsigned epochs;
	double lr, noise;
	size_t batch;
	bool adam;            /* else sgd, momentum 0.9 */
} ae_opts;

typedef void (*ae_progress_fn)(void *user, unsigned epoch, double loss);

/* w, b, c and the rest, zeroed, once the shape fields are set. */
int oi__ae_alloc(ae_layer *a);
void oi__ae_free(ae_layer *a);
/* The mean squared error of rebuilding x from xn (rows of din), and with
 * grad the gradients of it in gw, gb, gc; -1 when out of memory. */
double oi__ae_step(ae_layer *a, const float *x, const float *xn, size_t rows, bool grad);
/* One optimizer step from the gradients in gw, gb, gc. */
void oi__ae_update(ae_layer *a, const ae_opts *o);
/* The mean squared error of rebuilding the rows of x, clean, over all of
 * them (in chunks of at least batch); z, when not NULL, holds their
 * pre-activations (rows of dout, or M×oh×ow), which saves the encoder's
 * sgemm. -1 when out of memory. */
double oi__ae_loss(ae_layer *a, const float *x, const float *z, size_t rows, size_t batch);
/* Train on rows of x: epochs of shuffled minibatches with masking noise,
 * from seed and name; fn gets each epoch's mean error (epochs from 1). */
int oi__ae_train(ae_layer *a, const float *x, size_t rows, const ae_opts *o, uint64_t seed,
                 const char *name, ae_progress_fn fn, void *user);

#endif
