-- not configuration: conf.d/*.lua files are loaded by the lua package
[Check_lua]
type = nothing
