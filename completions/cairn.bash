# bash completion for cairn and cairnd. Source it, or install to
# /usr/share/bash-completion/completions/cairn (and a copy or link named cairnd).

_cairn() {
  local cur prev words cword
  _init_completion || return
  local commands="login init clone status push pull sync check-ignore ls mkdir mv rm history log restore trash conflicts quota share unshare shares link web put get cat"
  local i sub=""
  for ((i = 1; i < cword; i++)); do
    case "${words[i]}" in
      -C) ((i++)) ;;
      -*) ;;
      *) sub="${words[i]}"; break ;;
    esac
  done
  if [[ "$prev" == "-C" ]]; then
    _filedir -d
    return
  fi
  if [[ "$prev" == "--ca-cert" ]]; then
    _filedir
    return
  fi
  if [[ -z "$sub" ]]; then
    COMPREPLY=($(compgen -W "$commands -C --ca-cert --help --version" -- "$cur"))
    return
  fi
  local common="--json -q --quiet --help"
  case "$sub" in
    login) COMPREPLY=($(compgen -W "--token $common" -- "$cur")) ;;
    init) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--remote $common" -- "$cur")) || _filedir -d ;;
    clone) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "$common" -- "$cur")) || _filedir -d ;;
    status) COMPREPLY=($(compgen -W "--offline $common" -- "$cur")) ;;
    push) COMPREPLY=($(compgen -W "--transfers --hash-threads --allow-mass-delete $common" -- "$cur")) ;;
    pull) COMPREPLY=($(compgen -W "--transfers $common" -- "$cur")) ;;
    mkdir|mv|history) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "$common" -- "$cur")) || _filedir ;;
    ls) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--at $common" -- "$cur")) || _filedir ;;
    log) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--since --limit $common" -- "$cur")) || _filedir ;;
    rm) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "-r --recursive $common" -- "$cur")) || _filedir ;;
    restore) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--version --to --at $common" -- "$cur")) || _filedir ;;
    trash)
      if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "--to --yes $common" -- "$cur"))
      elif ((cword == i + 1)); then
        COMPREPLY=($(compgen -W "ls restore empty" -- "$cur"))
      else
        _filedir
      fi ;;
    conflicts|quota) COMPREPLY=($(compgen -W "$common" -- "$cur")) ;;
    share) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--role $common" -- "$cur")) || _filedir ;;
    unshare|shares) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "$common" -- "$cur")) || _filedir -d ;;
    link) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--expires --list --revoke $common" -- "$cur")) || _filedir ;;
    web) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--no-open $common" -- "$cur")) || _filedir ;;
    sync) COMPREPLY=($(compgen -W "--wait --timeout --watch --debounce --rescan --transfers --allow-mass-delete $common" -- "$cur")) ;;
    check-ignore) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "$common" -- "$cur")) || _filedir ;;
    put) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--delete --allow-mass-delete --transfers --hash-threads $common" -- "$cur")) || _filedir ;;
    get) [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "--at --transfers $common" -- "$cur")) || _filedir ;;
    cat) COMPREPLY=($(compgen -W "--at $common" -- "$cur")) ;;
  esac
}
complete -F _cairn cairn

_cairnd() {
  local cur prev words cword
  _init_completion || return
  if [[ "$prev" == "--data" ]]; then
    _filedir -d
    return
  fi
  case "${words[1]}" in
    user)
      if ((cword == 2)); then
        COMPREPLY=($(compgen -W "add list quota disable enable delete" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "--grace --end-shares --data --json --help" -- "$cur"))
      fi ;;
    token)
      if ((cword == 2)); then
        COMPREPLY=($(compgen -W "create list revoke" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "--label --expires --read-only --path --data --json --help" -- "$cur"))
      fi ;;
    init) COMPREPLY=($(compgen -W "--data --metadata --blobs --chunk-min --chunk-avg --chunk-max --json --help" -- "$cur")) ;;
    serve) COMPREPLY=($(compgen -W "--data --listen --workers --tls-cert --tls-key --allow-plain-http --rate-limit --idle-timeout --max-connections --log-level --metrics-token-file --json --help" -- "$cur")) ;;
    gc) COMPREPLY=($(compgen -W "--data --grace --json --help" -- "$cur")) ;;
    check) COMPREPLY=($(compgen -W "--data --read-data --read-data-subset --max-rate --progress --json --help" -- "$cur")) ;;
    backup) COMPREPLY=($(compgen -W "--data --to --json --help" -- "$cur")) ;;
    migrate|retention|stats) COMPREPLY=($(compgen -W "--data --json --help" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "init serve user token gc check retention migrate backup stats --help --version" -- "$cur")) ;;
  esac
}
complete -F _cairnd cairnd
