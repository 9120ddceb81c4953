# fish completion for cairn and cairnd. Install to ~/.config/fish/completions/.

set -l cairn_cmds login init clone status push pull ls mkdir mv rm history restore trash conflicts quota
complete -c cairn -f
complete -c cairn -s C -r -a '(__fish_complete_directories)' -d 'Run as if started in DIR'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a login -d 'Remember a server and token'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a init -d 'Make a folder a working copy'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a clone -d 'Create a working copy and pull it'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a status -d 'Show local and remote changes'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a push -d 'Upload local changes'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a pull -d 'Download remote changes'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a ls -d 'List a remote folder'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a mkdir -d 'Create a folder'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a mv -d 'Rename or move, here and on the server'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a rm -d 'Delete (to the server trash)'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a history -d "List a file's versions"
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a restore -d 'Bring back a version or a deleted file'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a trash -d 'List, restore or empty the trash'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a conflicts -d 'List conflicted copies'
complete -c cairn -n "not __fish_seen_subcommand_from $cairn_cmds" -a quota -d 'Show quota use'
complete -c cairn -n '__fish_seen_subcommand_from ls mkdir mv rm history restore' -F
complete -c cairn -n '__fish_seen_subcommand_from rm' -s r -l recursive -d 'Delete a folder and its content'
complete -c cairn -n '__fish_seen_subcommand_from restore' -l version -r -d 'Version number'
complete -c cairn -n '__fish_seen_subcommand_from restore trash' -l to -r -d 'Put it here instead'
complete -c cairn -n '__fish_seen_subcommand_from trash' -a 'ls restore empty'
complete -c cairn -n '__fish_seen_subcommand_from trash' -l yes -d 'Really empty the trash'
complete -c cairn -n '__fish_seen_subcommand_from push' -l allow-mass-delete -d 'Push even if it deletes most files'
complete -c cairn -n "__fish_seen_subcommand_from $cairn_cmds" -l json -d 'Print one JSON object'
complete -c cairn -n "__fish_seen_subcommand_from $cairn_cmds" -s q -l quiet -d 'Print errors only'
complete -c cairn -n '__fish_seen_subcommand_from login' -l token -r -d 'Token from cairnd user add'
complete -c cairn -n '__fish_seen_subcommand_from init' -l remote -r -d 'Server URL and remote folder'
complete -c cairn -n '__fish_seen_subcommand_from init clone' -a '(__fish_complete_directories)'
complete -c cairn -n '__fish_seen_subcommand_from status' -l offline -d 'Do not ask the server'
complete -c cairn -n '__fish_seen_subcommand_from push pull' -l transfers -r -d 'Parallel transfers'
complete -c cairn -n '__fish_seen_subcommand_from push' -l hash-threads -r -d 'Hashing threads'

set -l cairnd_cmds init serve user token gc retention migrate
complete -c cairnd -f
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a init -d 'Create a data folder'
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a serve -d 'Serve the HTTP API'
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a user -d 'Manage users'
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a token -d 'Manage tokens'
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a gc -d 'Collect unreferenced chunks and packs'
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a migrate -d 'Apply pending schema migrations'
complete -c cairnd -n "not __fish_seen_subcommand_from $cairnd_cmds" -a retention -d 'How long gc keeps history and trash'
complete -c cairnd -n '__fish_seen_subcommand_from init' -l metadata -r -d 'postgresql:// URL or SQLite file'
complete -c cairnd -n '__fish_seen_subcommand_from init' -l blobs -r -d 's3:// URL or folder'
complete -c cairnd -n '__fish_seen_subcommand_from user' -a 'add list quota'
complete -c cairnd -n '__fish_seen_subcommand_from token' -a create
complete -c cairnd -n "__fish_seen_subcommand_from $cairnd_cmds" -l data -r -a '(__fish_complete_directories)' -d 'Data folder'
complete -c cairnd -n '__fish_seen_subcommand_from gc' -l grace -r -d 'Keep anything newer than this (25h)'
complete -c cairnd -n '__fish_seen_subcommand_from serve' -l listen -r -d 'HOST:PORT'
complete -c cairnd -n '__fish_seen_subcommand_from serve' -l workers -r -d 'Handler threads'
