#!/usr/bin/env bash
# Proves validate.mjs against samples/. Prints "N passed, N failed"; exit 1 on any failure.
set -u
cd "$(dirname "$0")"
pass=0; fail=0
check() { # mode file expected_exit [grep-pattern-that-must-appear]
  out=$(node validate.mjs "$1" "samples/$2"); rc=$?
  if [ "$rc" -eq "$3" ] && { [ -z "${4:-}" ] || grep -qF -- "$4" <<<"$out"; }; then pass=$((pass+1)); echo "ok   $1 $2"
  else fail=$((fail+1)); echo "FAIL $1 $2 (exit $rc, want $3, pattern '${4:-}')"; echo "$out"; fi
}
check manifest manifest.valid.json     0
check manifest manifest.rsc.json       0
check manifest manifest.devname33.json 1 '/developer/name must NOT have more than 32 characters'
check manifest manifest.v118.json      1 'has no shipped schema'
check manifest manifest.multi.json     1 '/bots/0/commandLists/0/commands must NOT have more than 12 items'
check cards    cards.valid.json        0
check cards    cards.invalid.json      1 '"event": "UnknownElementType"'
check cards    cards.invalid.json      1 '"event": "UnknownActionType"'
check cards    cards.invalid.json      1 '"event": "DuplicateId"'
check cards    cards.invalid.json      1 '"event": "CollectionCantBeEmpty"'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
