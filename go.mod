module github.com/monsta/monsta

go 1.26.8

require (
	github.com/google/shlex v0.0.0-20191202100458-e7afc7fbc510
	github.com/miekg/dns v1.1.73
	github.com/yuin/gopher-lua v1.1.2
	gopkg.in/ini.v1 v1.67.3
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
