#!/bin/bash
# Shell completion (issue 20): made from the command table, so every
# command and option the help documents completes, in bash and fish by
# the shells' own completion machinery, in zsh through its bashcompinit;
# and cmake --install puts the three files where the shells look.
source "$SRCDIR/tests/integration/lib/common.sh"

"$MINICA" completion bash >"$T/minica.bash"
"$MINICA" completion zsh >"$T/_minica"
"$MINICA" completion fish >"$T/minica.fish"
check "bash reads its script" bash -n "$T/minica.bash"
check "zsh reads its script" zsh -n "$T/_minica"

# bash_complete WORDS...: what bash offers for the last word.
bash_complete() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _minica
        printf "%s\n" "${COMPREPLY[@]}"' _ "$T/minica.bash" "$@"
}
check "bash: minica iss -> issue" test "$(bash_complete minica iss)" = issue
check "bash: minica issue --pem -> --pem-bundle" test "$(bash_complete minica issue --pem)" = --pem-bundle
check "bash: minica nginx s -> snippet" test "$(bash_complete minica nginx s)" = snippet
check "bash: minica export -> its three subcommands" \
    test "$(bash_complete minica export '' | tr '\n' ' ')" = "root intermediate chain "
check "bash: after --out, file names (nothing of its own)" test -z "$(bash_complete minica issue --out '')"
# Every command of minica --help completes.
"$MINICA" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' >"$T/commands"
missing=""
while read -r cmd; do
    [ "$(bash_complete minica "$cmd")" = "$cmd" ] || missing="$missing $cmd"
done <"$T/commands"
check "bash: every command of minica --help completes (missing:${missing:- none})" test -z "$missing"
# And every option in a command's Usage line.
"$MINICA" help issue | sed -n '1,/^$/p' | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$T/issue-opts"
bash_complete minica issue -- | sort -u >"$T/issue-completed"
check "bash: every option of issue's Usage completes" \
    sh -c "comm -23 '$T/issue-opts' '$T/issue-completed' | grep -q . && exit 1 || exit 0"

fish_complete() { fish -c "source $T/minica.fish; complete -C '$1'" | cut -f1; }
check "fish: minica iss -> issue" test "$(fish_complete 'minica iss')" = issue
check "fish: minica issue --pem -> --pem-bundle" test "$(fish_complete 'minica issue --pem')" = --pem-bundle
check "fish: minica agent st -> status" test "$(fish_complete 'minica agent st')" = status

# zsh's bashcompinit runs the same function; zsh itself then filters by
# the word typed, so the function's list must hold the answer.
zsh_complete() {
    zsh -c 'autoload -U +X compinit && compinit -u -D; source "$1"; shift; setopt ksharrays
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _minica; print -l -- "${COMPREPLY[@]}"' \
        _ "$T/_minica" "$@" 2>/dev/null
}
check "zsh: minica issue --pe offers --pem-bundle" grep -qx -- --pem-bundle <<<"$(zsh_complete minica issue --pe)"

run "$MINICA" completion tcsh
expect_rc 2 "an unknown shell is a usage error"

# cmake --install places them.
if [ -n "${BUILDDIR:-}" ]; then
    run cmake --install "$BUILDDIR" --prefix "$T/prefix"
    expect_ok "cmake --install into a temporary prefix"
    for f in share/bash-completion/completions/minica share/zsh/vendor-completions/_minica \
        share/fish/vendor_completions.d/minica.fish; do
        check "installs $f" test -s "$T/prefix/$f"
    done
    check "the installed bash completion is the binary's" cmp -s "$T/minica.bash" \
        "$T/prefix/share/bash-completion/completions/minica"
fi

done_testing
