# MINICA_FAKE_NOW is a test hook: it moved notBefore, expiry checks, token
# expiry and audit times of the installed binary. Only minica-fakeclock (the
# test build's copy of the CLI) may honour it; the binary that installs must
# not even know the name.
source "$SRCDIR/tests/integration/lib/common.sh"

past=$(($(date +%s) - 2 * 365 * 86400))
not_before() { date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s; }

run env MINICA_FAKE_NOW=$past "$MINICA" init --dir "$T/release"
expect_ok "init with MINICA_FAKE_NOW set"
nb=$(not_before "$T/release/root.crt")
if [ $((nb - past)) -gt 86400 ]; then pass "the installed binary ignores MINICA_FAKE_NOW"; else
    fail "the installed binary backdated the root to $nb"
fi
check_not "and does not contain the variable's name" grep -q MINICA_FAKE_NOW "$MINICA"

# The control: the test build does move its clock, so the check above can fail.
run env MINICA_FAKE_NOW=$past "$MINICA_FAKECLOCK" init --dir "$T/fake"
expect_ok "init with the test build"
nb=$(not_before "$T/fake/root.crt")
if [ $((nb - past)) -le 120 ]; then pass "the test build honours MINICA_FAKE_NOW"; else
    fail "the test build did not move its clock ($nb, wanted about $past)"
fi
done_testing
