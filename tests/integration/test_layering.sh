#!/bin/bash
# scripts/check-layers, the gate that keeps the source layout honest: it
# passes on this tree, and fails, naming file, line and rule, on a copy of
# the tree with one violation planted for each rule it enforces.
source "$SRCDIR/tests/integration/lib/common.sh"

CHECK=$SRCDIR/scripts/check-layers

run "$CHECK" "$SRCDIR"
expect_ok "this tree follows the layering"
expect_out '^layering ok: [0-9]+ includes in [0-9]+ files' "it says what it checked"

# plant NAME FILE LINE: a fresh copy of src/ and include/ with LINE appended
# to FILE (created when missing); the check's output in $OUT.
plant() {
    rm -rf "$T/tree"
    mkdir -p "$T/tree"
    cp -a "$SRCDIR/src" "$SRCDIR/include" "$T/tree/"
    mkdir -p "$(dirname "$T/tree/$2")"
    printf '%s\n' "$3" >>"$T/tree/$2"
    run "$CHECK" "$T/tree"
    expect_rc 1 "$1: refused"
}
# expect_line REGEX description: the check named the file, line and rule.
expect_line() { expect_out "$1" "$2"; }

plant "store reaching up to ca" src/lib/store/store.c '#include "ca/x509.h"'
expect_line '^check-layers: src/lib/store/store\.c:[0-9]+: store includes "ca/x509\.h" of the higher layer ca' \
    "names the file, line and both layers"
expect_line 'violation\(s\) of base < store < ca < nginx, serve, truststore < agent < cli$' "states the rule"

plant "an include followed by a quoting comment" src/lib/store/store.c '#include "ca/x509.h" /* "why" */'
expect_line 'store includes "ca/x509\.h" of the higher layer ca' "the include, not the comment, is judged"

plant "base reaching a public header above it" src/lib/base/util.c '#include "minica/agent.h"'
expect_line 'src/lib/base/util\.c:[0-9]+: base includes "minica/agent\.h" of the higher layer agent' \
    "a public header counts as its module's layer"

plant "nginx and serve as peers" src/lib/nginx/check.c '#include "minica/server.h"'
expect_line 'nginx includes "minica/server\.h" of its peer serve' "peers do not include each other"

plant "truststore and nginx as peers" src/lib/truststore/system.c '#include "minica/nginx.h"'
expect_line 'truststore includes "minica/nginx\.h" of its peer nginx' "truststore is their peer too"

plant "another folder's internal header" src/lib/agent/run.c '#include "serve/serve_internal.h"'
expect_line 'src/lib/agent/run\.c:[0-9]+: includes "serve/serve_internal\.h", internal to src/lib/serve' \
    "an internal header stays in its folder"

plant "a bare include in src/lib" src/lib/ca/ca.c '#include "x509.h"'
expect_line 'includes "x509\.h": name its folder' "includes name their folder"

plant "a file outside the layer folders" src/lib/helpers.c '/* flat */'
expect_line 'src/lib/helpers\.c: not in a layer folder' "a flat src/lib file is refused"

plant "an unknown folder" src/lib/acme/acme.c '#include "base/util.h"'
expect_line 'src/lib/acme/acme\.c: not in a layer folder' "a new folder must join the rule first"

plant "a public header with no layer" include/minica/acme.h '#include "minica/error.h"'
expect_line 'include/minica/acme\.h: public header with no layer' "a new public header must get a layer"

plant "a public header including a private one" include/minica/ca.h '#include "ca/x509.h"'
expect_line 'include/minica/ca\.h:[0-9]+: public header includes "ca/x509\.h"' \
    "installed headers include only installed headers"

plant "the CLI reaching past the public API" src/cli/cmd_issue.c '#include "base/util.h"'
expect_line 'src/cli/cmd_issue\.c:[0-9]+: includes "base/util\.h": the CLI uses libminica through include/minica only' \
    "the CLI is thin over the public API"

done_testing
