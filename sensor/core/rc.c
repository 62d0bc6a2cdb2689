/*
 * rc.c - names of the return codes.
 */
#include "dlp/rc.h"

const char *dlp_rc_str(dlp_rc_t rc)
{
    switch (rc) {
    case DLP_OK: return "OK";
    case DLP_AGAIN: return "AGAIN";
    case DLP_DONE: return "DONE";
    case DLP_ENOMEM: return "ENOMEM";
    case DLP_EINVAL: return "EINVAL";
    case DLP_ELIMIT: return "ELIMIT";
    case DLP_EPROTO: return "EPROTO";
    case DLP_EIO: return "EIO";
    }
    return "unknown";
}
