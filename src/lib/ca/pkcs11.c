/* The PKCS#11 signer (pkcs11.h): p11-kit parses the RFC 7512 URI and loads
 * the module, the module's own functions find the key and sign, and this
 * file turns what a token returns into what X.509 carries. Not which CA
 * key lives where (ca.c), nor PIN sources beyond the URI's own. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>

#include "base/libload.h"
#include "base/util.h"
#include "ca/pkcs11.h"
#include "minica/fsutil.h"

/* One key in one token, through one logged-in session. */
struct p11_key {
    const struct minica_p11kit *kit;
    CK_FUNCTION_LIST **modules; /* p11-kit's configured ones (just the token's once chosen) */
    CK_FUNCTION_LIST *module;   /* the token's; loaded alone from module-path when !modules */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session;
    int has_session;
    CK_OBJECT_HANDLE key;
    CK_KEY_TYPE key_type;
    char token[33];
    /* A PKCS#11 session serves one call at a time (PKCS#11 2.40, 6.7.7):
     * CA callers hold their own lock, this one keeps the backend safe
     * without it. */
    pthread_mutex_t lock;
    int has_lock;
};

/* The CKR_ names a log reader can search for, and what they mean here. */
static const struct {
    CK_RV rv;
    const char *name;
    const char *reason;
} ckr_names[] = {
    {CKR_CANCEL, "CKR_CANCEL", "cancelled"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY", "out of memory"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", "no such slot"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", "the module failed"},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", "the call failed"},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", "bad arguments"},
    {CKR_CANT_LOCK, "CKR_CANT_LOCK", "the module cannot lock for threads"},
    {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE", "attribute is secret"},
    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID", "attribute unknown to the token"},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", "attribute value refused"},
    {CKR_DATA_INVALID, "CKR_DATA_INVALID", "input refused"},
    {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", "input of the wrong length"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", "device error"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", "the token is full"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", "the token was removed"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED", "not supported by the module"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID", "the key is gone"},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", "key size not supported"},
    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT", "the key cannot do this"},
    {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED", "the key may not sign"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", "mechanism not supported"},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID", "mechanism parameter refused"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", "the object is gone"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", "another operation is under way"},
    {CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED", "no operation under way"},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", "wrong PIN"},
    {CKR_PIN_INVALID, "CKR_PIN_INVALID", "PIN with characters the token refuses"},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", "PIN too short or too long"},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", "PIN expired"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED", "PIN locked after too many wrong tries"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", "session closed"},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT", "too many sessions"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", "session lost"},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", "read-only session"},
    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE", "template incomplete"},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", "template refused"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", "no token in the slot"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", "token not recognised"},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", "token is write-protected"},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN", "already logged in"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", "not logged in"},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED", "user PIN not set"},
    {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID", "user type refused"},
    {CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
     "another user is logged in"},
    {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID", "curve not supported"},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", "output too large"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED", "module not initialised"},
};

/* "CALL: CKR_NAME: reason for token LABEL", one line. */
static int p11_fail(struct minica_err *err, const char *call, CK_RV rv, const char *token)
{
    const char *name = NULL;
    const char *reason = "unknown error";
    char hex[32];
    for (size_t i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++) {
        if (ckr_names[i].rv == rv) {
            name = ckr_names[i].name;
            reason = ckr_names[i].reason;
            break;
        }
    }
    if (name == NULL) {
        snprintf(hex, sizeof(hex), "CKR_0x%08lX", (unsigned long)rv);
        name = hex;
    }
    int code = MINICA_ECRYPTO;
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
        rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE || rv == CKR_USER_PIN_NOT_INITIALIZED)
        code = MINICA_EFORBIDDEN;
    return minica_seterr(err, code, "%s: %s: %s for token %s", call, name, reason,
                         token != NULL && token[0] != '\0' ? token : "(none chosen yet)");
}

/* RFC 7512 2.4 makes pin-value a query attribute; p11-kit also reads it
 * in the path: both go. */
int minica_pkcs11_uri_redact(const char *uri, char *out, size_t size, struct minica_err *err)
{
    size_t o = 0;
    int in_query = 0, first = 1;
    const char *p = uri;
    if (size < 8)
        return minica_seterr(err, MINICA_EINVAL, "no room for a PKCS#11 URI");
    out[0] = '\0';
    if (strncmp(p, "pkcs11:", 7) == 0) {
        memcpy(out, p, 7);
        o = 7;
        p += 7;
    }
    while (*p != '\0') {
        size_t n = strcspn(p, in_query ? "&" : ";?");
        int drop = strncmp(p, "pin-value=", 10) == 0 && n >= 10;
        if (!drop && n > 0) {
            if (!first && o < size)
                out[o++] = in_query ? '&' : ';';
            if (o + n >= size)
                return minica_seterr(err, MINICA_EINVAL, "PKCS#11 URI longer than %zu bytes",
                                     size - 1);
            memcpy(out + o, p, n);
            o += n;
            first = 0;
        }
        p += n;
        if (*p == '?' && !in_query) {
            /* the query: its '?' goes again below when nothing is kept after it */
            in_query = 1;
            p++;
            if (o + 1 >= size)
                return minica_seterr(err, MINICA_EINVAL, "PKCS#11 URI too long");
            out[o++] = '?';
            first = 1;
        } else if (*p != '\0') {
            p++;
        }
    }
    if (o > 0 && out[o - 1] == '?')
        o--;
    if (o >= size)
        return minica_seterr(err, MINICA_EINVAL, "PKCS#11 URI too long");
    out[o] = '\0';
    return MINICA_OK;
}

/* A PIN file (pin-source=): the rules a key file follows, since the PIN
 * opens the key. */
static int read_pin_file(const char *source, char **pin, struct minica_err *err)
{
    const char *path = source;
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    else if (strncmp(path, "file:", 5) == 0)
        path += 5;
    if (path[0] != '/')
        return minica_seterr(err, MINICA_EINVAL,
                             "pin-source %s: only a file given by its absolute path is read",
                             source);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return minica_seterr(err, errno == ENOENT ? MINICA_ENOENT : MINICA_EIO,
                             "cannot open PIN file %s: %s", path,
                             errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    struct stat st;
    int ret = MINICA_OK;
    char buf[257];
    ssize_t got = 0;
    if (fstat(fd, &st) != 0) {
        ret = minica_seterr(err, MINICA_EIO, "cannot stat PIN file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ret = minica_seterr(err, MINICA_EINVAL, "PIN file %s is not a regular file", path);
        goto out;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "PIN file %s belongs to uid %lu, neither root nor us", path,
                            (unsigned long)st.st_uid);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        ret = minica_seterr(err, MINICA_EFORBIDDEN,
                            "PIN file %s is readable or writable by others (mode %04o): chmod 600",
                            path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = minica_seterr(err, MINICA_EIO, "cannot read PIN file %s: %s", path,
                                strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += r;
        if ((size_t)got == sizeof(buf) - 1) {
            ret = minica_seterr(err, MINICA_EINVAL, "PIN file %s holds more than %zu bytes", path,
                                sizeof(buf) - 2);
            goto out;
        }
    }
    /* One trailing newline is the editor's, not the PIN's. */
    if (got > 0 && buf[got - 1] == '\n')
        got--;
    if (got > 0 && buf[got - 1] == '\r')
        got--;
    buf[got] = '\0';
    if (memchr(buf, '\0', (size_t)got) != NULL) {
        ret = minica_seterr(err, MINICA_EINVAL, "PIN file %s holds a NUL byte", path);
        goto out;
    }
    *pin = malloc((size_t)got + 1);
    if (*pin == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*pin, buf, (size_t)got + 1);
out:
    mbedtls_platform_zeroize(buf, sizeof(buf));
    close(fd);
    return ret;
}

static void space_trim(const unsigned char *in, size_t n, char *out)
{
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\0'))
        n--;
    memcpy(out, in, n);
    out[n] = '\0';
}

static void p11_key_close(struct p11_key *k)
{
    if (k == NULL)
        return;
    if (k->has_session)
        k->module->C_CloseSession(k->session);
    /* Closing the application's last session to the token logs it out
     * (PKCS#11 2.40, 5.6); finalizing a managed module ends only this
     * user of it, so another signer in the same token keeps working. */
    if (k->modules != NULL) {
        k->kit->modules_finalize_and_release(k->modules);
    } else if (k->module != NULL) {
        k->kit->module_finalize(k->module);
        k->kit->module_release(k->module);
    }
    if (k->has_lock)
        pthread_mutex_destroy(&k->lock);
    free(k);
}

/* The modules to look in: module-path's alone, or p11-kit's configured
 * ones (module-name= narrows them below). Managed (flags 0): p11-kit
 * initialises each with CKF_OS_LOCKING_OK and gives every caller its own
 * view, so two signers in one module do not finalize each other. */
static int load_modules(struct p11_key *k, P11KitUri *uri, const char *where,
                        struct minica_err *err)
{
    const struct minica_p11kit *kit = k->kit;
    const char *path = kit->uri_get_module_path(uri);
    if (path != NULL) {
        CK_FUNCTION_LIST *m = kit->module_load(path, 0);
        if (m == NULL) {
            const char *why = kit->message();
            return minica_seterr(err, MINICA_ENOENT, "cannot load PKCS#11 module %s: %s", path,
                                 why != NULL ? why : "not found");
        }
        CK_RV rv = kit->module_initialize(m);
        /* SoftHSM2's C_Initialize has OpenSSL dlopen an engine that may
         * not be there (libbase/libload.h says why this matters). */
        minica_dl_clear_error();
        if (rv != CKR_OK) {
            kit->module_release(m);
            int ret = p11_fail(err, "C_Initialize", rv, NULL);
            minica_err_prefix(err, "PKCS#11 module %s", path);
            return ret;
        }
        k->module = m;
        return MINICA_OK;
    }
    k->modules = kit->modules_load_and_initialize(0);
    minica_dl_clear_error();
    if (k->modules == NULL) {
        const char *why = kit->message();
        return minica_seterr(err, MINICA_ECRYPTO,
                             "p11-kit cannot load its configured PKCS#11 modules for %s: %s", where,
                             why != NULL ? why : "unknown error");
    }
    return MINICA_OK;
}

/* Releases every configured module but keep, so that the signer holds
 * only the token's module. */
static void keep_only(struct p11_key *k, CK_FUNCTION_LIST *keep)
{
    k->module = keep;
    if (k->modules == NULL)
        return;
    size_t n = 0;
    while (k->modules[n] != NULL)
        n++;
    CK_FUNCTION_LIST **rest = calloc(n + 1, sizeof(*rest));
    if (rest == NULL)
        return; /* all stay loaded until the signer goes: harmless */
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        if (k->modules[i] != keep)
            rest[r++] = k->modules[i];
    k->modules[0] = keep;
    k->modules[1] = NULL;
    k->kit->modules_finalize_and_release(rest); /* frees rest too */
}

/* The one initialised token the URI's module, slot and token attributes
 * match. Asking for a PIN on a token the URI may not mean would spend
 * its tries: none or several is an error naming what was seen. */
static int choose_token(struct p11_key *k, P11KitUri *uri, const char *where,
                        struct minica_err *err)
{
    const struct minica_p11kit *kit = k->kit;
    CK_FUNCTION_LIST *single[2] = {k->module, NULL};
    CK_FUNCTION_LIST **list = k->modules != NULL ? k->modules : single;
    const char *want_module = kit->uri_get_module_name(uri);
    CK_SLOT_ID want_slot = kit->uri_get_slot_id(uri);
    char seen[256] = "";
    size_t n_seen = 0, n_match = 0;
    CK_FUNCTION_LIST *match_module = NULL;
    CK_SLOT_ID match_slot = 0;
    char match_label[33] = "";
    for (size_t i = 0; list[i] != NULL; i++) {
        CK_FUNCTION_LIST *m = list[i];
        if (want_module != NULL) {
            char *name = kit->module_get_name(m);
            int same = name != NULL && strcmp(name, want_module) == 0;
            free(name);
            if (!same)
                continue;
        }
        CK_INFO info;
        if (m->C_GetInfo(&info) != CKR_OK || !kit->uri_match_module_info(uri, &info))
            continue;
        CK_ULONG n = 0;
        if (m->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n == 0)
            continue;
        CK_SLOT_ID *slots = calloc(n, sizeof(*slots));
        if (slots == NULL)
            return minica_seterr(err, MINICA_ENOMEM, "out of memory");
        if (m->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
            n = 0;
        for (CK_ULONG j = 0; j < n; j++) {
            CK_SLOT_INFO si;
            CK_TOKEN_INFO ti;
            if (want_slot != (CK_SLOT_ID)-1 && slots[j] != want_slot)
                continue;
            if (m->C_GetSlotInfo(slots[j], &si) != CKR_OK || !kit->uri_match_slot_info(uri, &si))
                continue;
            if (m->C_GetTokenInfo(slots[j], &ti) != CKR_OK ||
                (ti.flags & CKF_TOKEN_INITIALIZED) == 0)
                continue;
            char label[33];
            space_trim(ti.label, sizeof(ti.label), label);
            size_t used = strlen(seen);
            if (n_seen < 8)
                snprintf(seen + used, sizeof(seen) - used, "%s%s", n_seen > 0 ? ", " : "", label);
            n_seen++;
            if (!kit->uri_match_token_info(uri, &ti))
                continue;
            if (n_match++ == 0) {
                match_module = m;
                match_slot = slots[j];
                memcpy(match_label, label, sizeof(label));
            }
        }
        free(slots);
    }
    if (n_match == 0)
        return minica_seterr(err, MINICA_ENOENT, "no PKCS#11 token matches %s (%s%s)", where,
                             n_seen > 0 ? "tokens present: " : "no initialised token found", seen);
    if (n_match > 1)
        return minica_seterr(err, MINICA_EINVAL,
                             "%s matches %zu PKCS#11 tokens (%s): name one with token=", where,
                             n_match, seen);
    keep_only(k, match_module);
    k->slot = match_slot;
    memcpy(k->token, match_label, sizeof(k->token));
    return MINICA_OK;
}

/* Everything up to a logged-in session in the token uri names; *uri_out
 * and *kout are the caller's to free. */
static int p11_connect(const char *text, const char *pin_arg, int rw, struct p11_key **kout,
                       P11KitUri **uri_out, char *where, size_t where_size, struct minica_err *err)
{
    *kout = NULL;
    *uri_out = NULL;
    if (text == NULL)
        return minica_seterr(err, MINICA_EINVAL, "no PKCS#11 URI");
    int ret = minica_pkcs11_uri_redact(text, where, where_size, err);
    if (ret != 0)
        return ret;
    const struct minica_p11kit *kit = minica_p11kit_load(err);
    if (kit == NULL)
        return MINICA_ECRYPTO;
    char *pin_file = NULL;
    struct p11_key *k = NULL;
    P11KitUri *uri = kit->uri_new();
    if (uri == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    int rc = kit->uri_parse(text, P11_KIT_URI_FOR_ANY, uri);
    /* The URI's own PIN goes as soon as it is parsed. p11-kit frees it
     * without wiping; wipe it first (it is the URI object's copy). */
    const char *uri_pin = kit->uri_get_pin_value(uri);
    char *pin_value = NULL;
    if (uri_pin != NULL) {
        pin_value = minica_strdup(uri_pin);
        mbedtls_platform_zeroize((char *)uri_pin, strlen(uri_pin));
        kit->uri_set_pin_value(uri, NULL);
        if (pin_value == NULL) {
            ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (rc != P11_KIT_URI_OK) {
        ret = minica_seterr(err, MINICA_EINVAL, "malformed PKCS#11 URI %s: %s", where,
                            kit->uri_message(rc));
        goto out;
    }
    /* A misspelt attribute ("tokn=") would otherwise widen the match. */
    if (kit->uri_any_unrecognized(uri)) {
        ret = minica_seterr(err, MINICA_EINVAL,
                            "PKCS#11 URI %s has an attribute p11-kit does not know", where);
        goto out;
    }
    const char *pin = pin_arg;
    if (pin == NULL && kit->uri_get_pin_source(uri) != NULL) {
        ret = read_pin_file(kit->uri_get_pin_source(uri), &pin_file, err);
        if (ret != 0)
            goto out;
        pin = pin_file;
    }
    if (pin == NULL)
        pin = pin_value;

    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        ret = minica_seterr(err, MINICA_ENOMEM, "out of memory");
        goto out;
    }
    k->kit = kit;
    if (pthread_mutex_init(&k->lock, NULL) != 0) {
        ret = minica_seterr(err, MINICA_ENOMEM, "cannot create a lock");
        goto out;
    }
    k->has_lock = 1;
    ret = load_modules(k, uri, where, err);
    if (ret != 0)
        goto out;
    ret = choose_token(k, uri, where, err);
    if (ret != 0)
        goto out;
    CK_TOKEN_INFO ti;
    CK_RV rv = k->module->C_GetTokenInfo(k->slot, &ti);
    if (rv != CKR_OK) {
        ret = p11_fail(err, "C_GetTokenInfo", rv, k->token);
        goto out;
    }
    CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
    rv = k->module->C_OpenSession(k->slot, flags, NULL, NULL, &k->session);
    if (rv != CKR_OK) {
        ret = p11_fail(err, "C_OpenSession", rv, k->token);
        goto out;
    }
    k->has_session = 1;
    if (ti.flags & CKF_LOGIN_REQUIRED) {
        /* A PIN pad (protected authentication path) takes the PIN itself. */
        if (pin == NULL && (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) == 0) {
            ret = minica_seterr(err, MINICA_EFORBIDDEN,
                                "token %s needs a PIN and none was given (%s)", k->token, where);
            goto out;
        }
        rv = k->module->C_Login(k->session, CKU_USER, (CK_UTF8CHAR *)pin,
                                pin != NULL ? strlen(pin) : 0);
        /* Another signer of this process already logged the token in. */
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
            ret = p11_fail(err, "C_Login", rv, k->token);
            goto out;
        }
    }
    *kout = k;
    *uri_out = uri;
    k = NULL;
    uri = NULL;
out:
    if (pin_value != NULL)
        minica_free_secret(pin_value, 0);
    if (pin_file != NULL)
        minica_free_secret(pin_file, 0);
    p11_key_close(k);
    if (uri != NULL)
        kit->uri_free(uri);
    return ret;
}

/* At most max objects matching tmpl into found. */
static int find_objects(struct p11_key *k, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *found,
                        CK_ULONG max, CK_ULONG *count, struct minica_err *err)
{
    *count = 0;
    CK_RV rv = k->module->C_FindObjectsInit(k->session, tmpl, n);
    if (rv != CKR_OK)
        return p11_fail(err, "C_FindObjectsInit", rv, k->token);
    rv = k->module->C_FindObjects(k->session, found, max, count);
    k->module->C_FindObjectsFinal(k->session);
    if (rv != CKR_OK)
        return p11_fail(err, "C_FindObjects", rv, k->token);
    return MINICA_OK;
}

/* One attribute's value, malloc'd (*val NULL when the object has none). */
static int get_attr(struct p11_key *k, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
                    unsigned char **val, size_t *len, struct minica_err *err)
{
    *val = NULL;
    *len = 0;
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv = k->module->C_GetAttributeValue(k->session, obj, &a, 1);
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
        a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return MINICA_OK;
    if (rv != CKR_OK)
        return p11_fail(err, "C_GetAttributeValue", rv, k->token);
    a.pValue = malloc(a.ulValueLen > 0 ? a.ulValueLen : 1);
    if (a.pValue == NULL)
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    rv = k->module->C_GetAttributeValue(k->session, obj, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return p11_fail(err, "C_GetAttributeValue", rv, k->token);
    }
    *val = a.pValue;
    *len = a.ulValueLen;
    return MINICA_OK;
}

/* "object=LABEL;id=HEX" of the URI, for messages. */
static void describe(P11KitUri *uri, const struct minica_p11kit *kit, char *out, size_t size)
{
    CK_ATTRIBUTE *label = kit->uri_get_attribute(uri, CKA_LABEL);
    CK_ATTRIBUTE *id = kit->uri_get_attribute(uri, CKA_ID);
    size_t o = 0;
    out[0] = '\0';
    if (label != NULL)
        o += (size_t)snprintf(out, size, "object=%.*s", (int)label->ulValueLen,
                              (const char *)label->pValue);
    if (id != NULL) {
        const unsigned char *b = id->pValue;
        if (o < size)
            o += (size_t)snprintf(out + o, size - o, "%sid=", o > 0 ? ";" : "");
        for (CK_ULONG i = 0; i < id->ulValueLen && o + 3 < size; i++)
            o += (size_t)snprintf(out + o, size - o, "%%%02x", b[i]);
    }
}

/* The private key the URI names: exactly one. */
static int find_private_key(struct p11_key *k, P11KitUri *uri, struct minica_err *err)
{
    const struct minica_p11kit *kit = k->kit;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_ULONG n = 1;
    CK_ATTRIBUTE *want_class = kit->uri_get_attribute(uri, CKA_CLASS);
    CK_OBJECT_CLASS named = CKO_PRIVATE_KEY;
    if (want_class != NULL && want_class->ulValueLen == sizeof(named))
        memcpy(&named, want_class->pValue, sizeof(named));
    if (want_class != NULL && (want_class->ulValueLen != sizeof(named) || named != cls))
        return minica_seterr(err, MINICA_EINVAL,
                             "the PKCS#11 URI names no private key (type= must be private)");
    CK_ATTRIBUTE *label = kit->uri_get_attribute(uri, CKA_LABEL);
    CK_ATTRIBUTE *id = kit->uri_get_attribute(uri, CKA_ID);
    if (label == NULL && id == NULL)
        return minica_seterr(err, MINICA_EINVAL,
                             "the PKCS#11 URI names no key: give object= or id=");
    if (label != NULL)
        tmpl[n++] = *label;
    if (id != NULL)
        tmpl[n++] = *id;
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    int ret = find_objects(k, tmpl, n, found, 2, &count, err);
    if (ret != 0)
        return ret;
    char what[160];
    describe(uri, kit, what, sizeof(what));
    if (count == 0)
        return minica_seterr(err, MINICA_ENOENT, "token %s holds no private key %s", k->token,
                             what);
    if (count > 1)
        return minica_seterr(err, MINICA_EINVAL,
                             "token %s holds several private keys %s: add id= to choose one",
                             k->token, what);
    k->key = found[0];
    unsigned char *type = NULL;
    size_t type_len = 0;
    ret = get_attr(k, k->key, CKA_KEY_TYPE, &type, &type_len, err);
    if (ret != 0)
        return ret;
    if (type == NULL || type_len != sizeof(CK_KEY_TYPE)) {
        free(type);
        return minica_seterr(err, MINICA_ECRYPTO, "token %s does not say what key %s is", k->token,
                             what);
    }
    memcpy(&k->key_type, type, sizeof(CK_KEY_TYPE));
    free(type);
    if (k->key_type != CKK_EC && k->key_type != CKK_RSA)
        return minica_seterr(err, MINICA_EINVAL,
                             "key %s in token %s is neither EC nor RSA (CKK 0x%lx)", what, k->token,
                             (unsigned long)k->key_type);
    /* Such a key wants the PIN again before each signature (PKCS#11 2.40,
     * 5.2): serve would have to keep it. Refused here rather than failing
     * at the first certificate with CKR_USER_NOT_LOGGED_IN. */
    unsigned char *always = NULL;
    size_t always_len = 0;
    ret = get_attr(k, k->key, CKA_ALWAYS_AUTHENTICATE, &always, &always_len, err);
    if (ret != 0)
        return ret;
    int per_signature = always != NULL && always_len == sizeof(CK_BBOOL) && always[0] == CK_TRUE;
    free(always);
    if (per_signature)
        return minica_seterr(err, MINICA_EINVAL,
                             "key %s in token %s asks for the PIN at every signature "
                             "(CKA_ALWAYS_AUTHENTICATE), which minica does not do",
                             what, k->token);
    return MINICA_OK;
}

/* A SubjectPublicKeyInfo from CKA_EC_PARAMS and CKA_EC_POINT, for P-256
 * and P-384 (the curves minica's certificates name). */
static int ec_public(const unsigned char *params, size_t params_len, const unsigned char *point,
                     size_t point_len, mbedtls_pk_context *pub, struct minica_err *err)
{
    static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    if (!(params_len == sizeof(p256) && memcmp(params, p256, sizeof(p256)) == 0) &&
        !(params_len == sizeof(p384) && memcmp(params, p384, sizeof(p384)) == 0))
        return minica_seterr(err, MINICA_EINVAL,
                             "the token's EC key is on a curve other than P-256 or P-384");
    /* PKCS#11 2.40 wants the point DER-wrapped in an OCTET STRING; some
     * modules hand it over bare. */
    unsigned char *p = (unsigned char *)point;
    size_t inner = 0;
    if (mbedtls_asn1_get_tag(&p, point + point_len, &inner, MBEDTLS_ASN1_OCTET_STRING) == 0 &&
        p + inner == point + point_len && inner > 0 && p[0] == 0x04) {
        point_len = inner;
        point = p;
    }
    unsigned char buf[256];
    unsigned char *w = buf + sizeof(buf);
    size_t len = 0, par_len = 0;
    int r;
    if ((r = mbedtls_asn1_write_bitstring(&w, buf, point, point_len * 8)) < 0)
        goto fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_raw_buffer(&w, buf, params, params_len)) < 0)
        goto fail;
    par_len = (size_t)r;
    if ((r = mbedtls_asn1_write_algorithm_identifier(
             &w, buf, MBEDTLS_OID_EC_ALG_UNRESTRICTED,
             MBEDTLS_OID_SIZE(MBEDTLS_OID_EC_ALG_UNRESTRICTED), par_len)) < 0)
        goto fail;
    len += (size_t)r; /* the AlgorithmIdentifier, parameters included */
    if ((r = mbedtls_asn1_write_len(&w, buf, len)) < 0)
        goto fail;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(&w, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
        goto fail;
    len += (size_t)r;
    if ((r = mbedtls_pk_parse_public_key(pub, w, len)) != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, r,
                                     "the token's EC public key is not a valid point");
    return MINICA_OK;
fail:
    return minica_seterr_mbedtls(err, MINICA_ECRYPTO, r, "cannot encode the token's EC public key");
}

static int rsa_public(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len,
                      mbedtls_pk_context *pub, struct minica_err *err)
{
    int r = mbedtls_pk_setup(pub, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (r == 0)
        r = mbedtls_rsa_import_raw(mbedtls_pk_rsa(*pub), n, n_len, NULL, 0, NULL, 0, NULL, 0, e,
                                   e_len);
    if (r == 0)
        r = mbedtls_rsa_complete(mbedtls_pk_rsa(*pub));
    if (r == 0)
        r = mbedtls_rsa_check_pubkey(mbedtls_pk_rsa(*pub));
    if (r != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, r,
                                     "the token's RSA public key is invalid");
    if (mbedtls_pk_get_bitlen(pub) < 2048)
        return minica_seterr(err, MINICA_EPOLICY, "the token's RSA key has %zu bits, under 2048",
                             mbedtls_pk_get_bitlen(pub));
    return MINICA_OK;
}

static int cert_public(const unsigned char *der, size_t der_len, mbedtls_pk_context *pub,
                       struct minica_err *err)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    unsigned char spki[2048];
    int r = mbedtls_x509_crt_parse_der(&crt, der, der_len);
    int n = r == 0 ? mbedtls_pk_write_pubkey_der(&crt.pk, spki, sizeof(spki)) : r;
    r = n > 0 ? mbedtls_pk_parse_public_key(pub, spki + sizeof(spki) - n, (size_t)n) : n;
    mbedtls_x509_crt_free(&crt);
    if (r != 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, r,
                                     "cannot read the public key of the token's certificate");
    return MINICA_OK;
}

/* The public half: a public-key object with the private key's CKA_ID (or
 * label when it has no id), else a certificate with it, else (RSA) the
 * private key's own modulus and exponent. */
static int load_public(struct p11_key *k, mbedtls_pk_context *pub, struct minica_err *err)
{
    unsigned char *id = NULL, *label = NULL, *a = NULL, *b = NULL;
    size_t id_len = 0, label_len = 0, a_len = 0, b_len = 0;
    int ret = get_attr(k, k->key, CKA_ID, &id, &id_len, err);
    if (ret == 0 && (id == NULL || id_len == 0))
        ret = get_attr(k, k->key, CKA_LABEL, &label, &label_len, err);
    if (ret != 0)
        goto out;
    CK_ATTRIBUTE match = id != NULL && id_len > 0 ? (CK_ATTRIBUTE){CKA_ID, id, id_len}
                                                  : (CK_ATTRIBUTE){CKA_LABEL, label, label_len};
    if (match.pValue == NULL) {
        ret = minica_seterr(err, MINICA_ENOENT,
                            "the private key in token %s has neither id nor label to find its "
                            "public key by",
                            k->token);
        goto out;
    }
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE tmpl[2] = {{CKA_CLASS, &cls, sizeof(cls)}, match};
    CK_OBJECT_HANDLE obj;
    CK_ULONG count = 0;
    ret = find_objects(k, tmpl, 2, &obj, 1, &count, err);
    if (ret != 0)
        goto out;
    if (count == 1) {
        CK_ATTRIBUTE_TYPE ta = k->key_type == CKK_EC ? CKA_EC_PARAMS : CKA_MODULUS;
        CK_ATTRIBUTE_TYPE tb = k->key_type == CKK_EC ? CKA_EC_POINT : CKA_PUBLIC_EXPONENT;
        ret = get_attr(k, obj, ta, &a, &a_len, err);
        if (ret == 0)
            ret = get_attr(k, obj, tb, &b, &b_len, err);
        if (ret != 0)
            goto out;
        if (a != NULL && b != NULL) {
            ret = k->key_type == CKK_EC ? ec_public(a, a_len, b, b_len, pub, err)
                                        : rsa_public(a, a_len, b, b_len, pub, err);
            goto out;
        }
        free(a);
        free(b);
        a = b = NULL;
    }
    cls = CKO_CERTIFICATE;
    ret = find_objects(k, tmpl, 2, &obj, 1, &count, err);
    if (ret != 0)
        goto out;
    if (count == 1) {
        ret = get_attr(k, obj, CKA_VALUE, &a, &a_len, err);
        if (ret != 0)
            goto out;
        if (a != NULL) {
            ret = cert_public(a, a_len, pub, err);
            goto out;
        }
    }
    if (k->key_type == CKK_RSA) {
        ret = get_attr(k, k->key, CKA_MODULUS, &a, &a_len, err);
        if (ret == 0)
            ret = get_attr(k, k->key, CKA_PUBLIC_EXPONENT, &b, &b_len, err);
        if (ret == 0 && a != NULL && b != NULL) {
            ret = rsa_public(a, a_len, b, b_len, pub, err);
            goto out;
        }
        if (ret != 0)
            goto out;
    }
    ret =
        minica_seterr(err, MINICA_ENOENT,
                      "token %s holds no public key or certificate for the private key", k->token);
out:
    free(id);
    free(label);
    free(a);
    free(b);
    return ret;
}

/* DigestInfo (RFC 8017 9.2): what CKM_RSA_PKCS pads and signs. */
static int digest_info(mbedtls_md_type_t md, const unsigned char *hash, size_t hash_len,
                       unsigned char *out, size_t size, size_t *out_len)
{
    const char *oid;
    size_t oid_len;
    if (mbedtls_oid_get_oid_by_md(md, &oid, &oid_len) != 0)
        return -1;
    unsigned char *w = out + size;
    size_t len = 0, alg_len = 0;
    int r;
    if ((r = mbedtls_asn1_write_octet_string(&w, out, hash, hash_len)) < 0)
        return -1;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_null(&w, out)) < 0)
        return -1;
    alg_len = (size_t)r;
    if ((r = mbedtls_asn1_write_algorithm_identifier(&w, out, oid, oid_len, alg_len)) < 0)
        return -1;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_len(&w, out, len)) < 0)
        return -1;
    len += (size_t)r;
    if ((r = mbedtls_asn1_write_tag(&w, out, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
        return -1;
    len += (size_t)r;
    memmove(out, w, len);
    *out_len = len;
    return 0;
}

/* ECDSA-Sig-Value (RFC 5480 2.2.3 via RFC 3279) from CKM_ECDSA's r || s
 * (PKCS#11 2.40 2.3.1): two minimal INTEGERs. */
static int ecdsa_der(const unsigned char *rs, size_t rs_len, unsigned char *sig, size_t sig_size,
                     size_t *sig_len, struct minica_err *err)
{
    if (rs_len == 0 || rs_len % 2 != 0 || rs_len > 132)
        return minica_seterr(err, MINICA_ECRYPTO, "the token returned a %zu-byte ECDSA signature",
                             rs_len);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    unsigned char buf[160];
    unsigned char *w = buf + sizeof(buf);
    size_t len = 0;
    int n = mbedtls_mpi_read_binary(&r, rs, rs_len / 2);
    if (n == 0)
        n = mbedtls_mpi_read_binary(&s, rs + rs_len / 2, rs_len / 2);
    if (n == 0 && (n = mbedtls_asn1_write_mpi(&w, buf, &s)) >= 0)
        len += (size_t)n;
    if (n >= 0 && (n = mbedtls_asn1_write_mpi(&w, buf, &r)) >= 0)
        len += (size_t)n;
    if (n >= 0 && (n = mbedtls_asn1_write_len(&w, buf, len)) >= 0)
        len += (size_t)n;
    if (n >= 0 && (n = mbedtls_asn1_write_tag(
                       &w, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) >= 0)
        len += (size_t)n;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    if (n < 0)
        return minica_seterr_mbedtls(err, MINICA_ECRYPTO, n, "cannot encode the ECDSA signature");
    if (len > sig_size)
        return minica_seterr(err, MINICA_EINVAL, "signature buffer too small");
    memcpy(sig, w, len);
    *sig_len = len;
    return MINICA_OK;
}

static int p11_sign(struct minica_signer *s, mbedtls_md_type_t md, const unsigned char *hash,
                    size_t hash_len, unsigned char *sig, size_t sig_size, size_t *sig_len,
                    struct minica_err *err)
{
    struct p11_key *k = s->impl;
    *sig_len = 0;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    if ((md != MBEDTLS_MD_SHA256 && md != MBEDTLS_MD_SHA384 && md != MBEDTLS_MD_SHA512) ||
        info == NULL || mbedtls_md_get_size(info) != hash_len)
        return minica_seterr(err, MINICA_EINVAL, "%s signs SHA-256, SHA-384 or SHA-512 hashes only",
                             s->where);
    unsigned char in[128];
    size_t in_len = hash_len;
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    if (k->key_type == CKK_RSA) {
        mech.mechanism = CKM_RSA_PKCS;
        if (digest_info(md, hash, hash_len, in, sizeof(in), &in_len) != 0)
            return minica_seterr(err, MINICA_ECRYPTO, "cannot encode the DigestInfo");
    } else {
        memcpy(in, hash, hash_len);
    }
    unsigned char raw[1024]; /* RSA-8192 */
    CK_ULONG raw_len = sizeof(raw);
    pthread_mutex_lock(&k->lock);
    CK_RV rv = k->module->C_SignInit(k->session, &mech, k->key);
    const char *call = "C_SignInit";
    if (rv == CKR_OK) {
        call = "C_Sign";
        rv = k->module->C_Sign(k->session, in, in_len, raw, &raw_len);
    }
    pthread_mutex_unlock(&k->lock);
    if (rv != CKR_OK) {
        int ret = p11_fail(err, call, rv, k->token);
        minica_err_prefix(err, "cannot sign with %s", s->where);
        return ret;
    }
    if (k->key_type == CKK_EC)
        return ecdsa_der(raw, raw_len, sig, sig_size, sig_len, err);
    if (raw_len > sig_size)
        return minica_seterr(err, MINICA_EINVAL, "signature buffer too small");
    memcpy(sig, raw, raw_len);
    *sig_len = raw_len;
    return MINICA_OK;
}

static void p11_free(struct minica_signer *s)
{
    p11_key_close(s->impl);
    s->impl = NULL;
}

static const struct minica_signer_ops p11_ops = {p11_sign, p11_free, NULL};

/* The signer over k's key: the public half, and one signature checked
 * against it, since nothing else ties the public object found by id to
 * the private key (a token may hold two pairs under one id). Takes k. */
static int make_signer(struct p11_key *k, const char *where, struct minica_signer **out,
                       struct minica_err *err)
{
    struct minica_signer *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        p11_key_close(k);
        return minica_seterr(err, MINICA_ENOMEM, "out of memory");
    }
    mbedtls_pk_init(&s->pub);
    s->ops = &p11_ops;
    s->impl = k;
    snprintf(s->where, sizeof(s->where), "%s", where);
    int ret = load_public(k, &s->pub, err);
    if (ret == 0 && (mbedtls_pk_get_type(&s->pub) == MBEDTLS_PK_RSA) != (k->key_type == CKK_RSA))
        ret =
            minica_seterr(err, MINICA_ECRYPTO,
                          "the public key in token %s is not of the private key's type", k->token);
    if (ret == 0) {
        unsigned char hash[32], sig[1024];
        size_t sig_len = 0;
        static const char probe[] = "minica: does this key pair belong together?";
        ret = minica_compat_sha256((const unsigned char *)probe, sizeof(probe) - 1, hash) != 0
                  ? minica_seterr(err, MINICA_ECRYPTO, "cannot hash")
                  : p11_sign(s, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sizeof(sig), &sig_len,
                             err);
        if (ret == 0 &&
            mbedtls_pk_verify(&s->pub, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len) != 0)
            ret = minica_seterr(err, MINICA_ECRYPTO,
                                "the public key found in token %s does not match its private key",
                                k->token);
    }
    if (ret != 0) {
        p11_free(s);
        mbedtls_pk_free(&s->pub);
        free(s);
        return ret;
    }
    *out = s;
    return MINICA_OK;
}

int minica_pkcs11_signer_open(const char *uri, const char *pin, struct minica_signer **out,
                              struct minica_err *err)
{
    *out = NULL;
    struct p11_key *k = NULL;
    P11KitUri *puri = NULL;
    char where[sizeof(((struct minica_signer *)0)->where)];
    int ret = p11_connect(uri, pin, 0, &k, &puri, where, sizeof(where), err);
    if (ret != 0)
        return ret;
    ret = find_private_key(k, puri, err);
    k->kit->uri_free(puri);
    if (ret != 0) {
        p11_key_close(k);
        return ret;
    }
    return make_signer(k, where, out, err);
}

int minica_pkcs11_generate(const char *uri, const char *pin, enum minica_key_type type,
                           struct minica_rng *rng, struct minica_signer **out,
                           struct minica_err *err)
{
    if (out != NULL)
        *out = NULL;
    static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    CK_ULONG bits = 0;
    const unsigned char *curve = NULL;
    size_t curve_len = 0;
    switch (type) {
    case MINICA_KEY_EC_P256:
        curve = p256;
        curve_len = sizeof(p256);
        break;
    case MINICA_KEY_EC_P384:
        curve = p384;
        curve_len = sizeof(p384);
        break;
    case MINICA_KEY_RSA_2048:
        bits = 2048;
        break;
    case MINICA_KEY_RSA_3072:
        bits = 3072;
        break;
    case MINICA_KEY_RSA_4096:
        bits = 4096;
        break;
    default:
        return minica_seterr(err, MINICA_EINVAL, "no key type to make in the token");
    }
    struct p11_key *k = NULL;
    P11KitUri *puri = NULL;
    char where[sizeof(((struct minica_signer *)0)->where)];
    int ret = p11_connect(uri, pin, 1, &k, &puri, where, sizeof(where), err);
    if (ret != 0)
        return ret;
    const struct minica_p11kit *kit = k->kit;
    CK_ATTRIBUTE *label = kit->uri_get_attribute(puri, CKA_LABEL);
    CK_ATTRIBUTE *uri_id = kit->uri_get_attribute(puri, CKA_ID);
    unsigned char id[16];
    CK_ATTRIBUTE id_attr = {CKA_ID, id, sizeof(id)};
    if (label == NULL || label->ulValueLen == 0) {
        ret = minica_seterr(err, MINICA_EINVAL, "%s: name the key to make with object= (its label)",
                            where);
        goto out;
    }
    if (uri_id != NULL)
        id_attr = *uri_id;
    else if ((ret = minica_rng_bytes(rng, id, sizeof(id), err)) != 0)
        goto out;
    /* A second key under the same label or id would make the URI
     * ambiguous, and the CA's key unreachable by it. */
    for (int pass = 0; pass < 2; pass++) {
        CK_ATTRIBUTE probe[1] = {pass == 0 ? *label : id_attr};
        CK_OBJECT_HANDLE h;
        CK_ULONG count = 0;
        ret = find_objects(k, probe, 1, &h, 1, &count, err);
        if (ret != 0)
            goto out;
        if (count > 0) {
            ret = minica_seterr(err, MINICA_EEXIST,
                                pass == 0 ? "token %s already holds an object labelled %.*s"
                                          : "token %s already holds an object with the id "
                                            "of %.*s",
                                k->token, (int)label->ulValueLen, (const char *)label->pValue);
            goto out;
        }
    }
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    unsigned char exponent[] = {0x01, 0x00, 0x01}; /* 65537 */
    CK_ATTRIBUTE pub_t[10] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        *label,
        id_attr,
    };
    CK_ULONG n_pub = 7;
    if (curve != NULL) {
        pub_t[n_pub++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)curve, curve_len};
    } else {
        pub_t[n_pub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
        pub_t[n_pub++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)};
    }
    CK_ATTRIBUTE priv_t[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        *label,
        id_attr,
    };
    CK_MECHANISM mech = {curve != NULL ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv = k->module->C_GenerateKeyPair(k->session, &mech, pub_t, n_pub, priv_t,
                                            sizeof(priv_t) / sizeof(priv_t[0]), &hpub, &hpriv);
    if (rv != CKR_OK) {
        ret = p11_fail(err, "C_GenerateKeyPair", rv, k->token);
        goto out;
    }
    k->key = hpriv;
    k->key_type = curve != NULL ? CKK_EC : CKK_RSA;
    kit->uri_free(puri);
    puri = NULL;
    if (out == NULL) {
        p11_key_close(k);
        return MINICA_OK;
    }
    return make_signer(k, where, out, err);
out:
    if (puri != NULL)
        kit->uri_free(puri);
    p11_key_close(k);
    return ret;
}
