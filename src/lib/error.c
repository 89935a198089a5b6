/* Error codes and the per-thread message of the last failure. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[1024];

const char *oi_last_error(void)
{
	return last_error;
}

int oi__ok(void)
{
	last_error[0] = 0;
	return OI_OK;
}

int oi__failv(int code, const char *fmt, va_list ap)
{
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	/* One line, always: a message never carries a newline from a name. */
	for (char *p = last_error; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return code;
}

int oi__fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	oi__failv(code, fmt, ap);
	va_end(ap);
	return code;
}

void oi__error_prefix(const char *prefix)
{
	char tmp[sizeof last_error];
	size_t n = strlen(prefix);
	if (n > sizeof tmp - 3)
		n = sizeof tmp - 3;
	memcpy(tmp, prefix, n);
	memcpy(tmp + n, ": ", 2);
	size_t rest = strlen(last_error);
	if (rest > sizeof tmp - n - 3)
		rest = sizeof tmp - n - 3;
	memcpy(tmp + n + 2, last_error, rest);
	tmp[n + 2 + rest] = 0;
	memcpy(last_error, tmp, sizeof tmp);
}

const char *oi_error_name(oi_error code)
{
	switch (code) {
	case OI_OK: return "ok";
	case OI_ENOMEM: return "nomem";
	case OI_EIO: return "io";
	case OI_EFORMAT: return "format";
	case OI_EINVALID: return "invalid";
	case OI_EEXTERNAL: return "external";
	case OI_ETOOBIG: return "toobig";
	case OI_EUNSUPPORTED: return "unsupported";
	case OI_EARG: return "arg";
	case OI_ECONFLICT: return "conflict";
	}
	return "unknown";
}

const char *oi_version(void)
{
	return OI_VERSION_STRING;
}
