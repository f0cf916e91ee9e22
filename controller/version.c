/* version.c: which build this is, for `inception --version` and for everything a session
 * writes (session_start, export and MEI manifests): the project version from meson.build
 * and the git description baked in at build time (version.h, made by vcs_tag). */
#include "controller.h"
#include "version.h"

#ifndef INCEPTION_VERSION
#error "INCEPTION_VERSION comes from controller/meson.build"
#endif

const char *inception_version(void) { return INCEPTION_VERSION; }

const char *inception_build(void) { return INCEPTION_GIT_DESCRIBE; }

const char *inception_version_string(void)
{
    return "inception " INCEPTION_VERSION " (" INCEPTION_GIT_DESCRIBE ")";
}
