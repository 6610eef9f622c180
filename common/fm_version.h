/*  fm_version - the one version string of every finmatch binary          */
#ifndef FM_VERSION_H_INCLUDED
#define FM_VERSION_H_INCLUDED
#define FM_VERSION_MAJOR 0
#define FM_VERSION_MINOR 1
#define FM_VERSION_PATCH 0
#define FM_VERSION "0.1.0"
#endif
