package main

import "syscall"

// childAttr makes a child server die with the benchmark, even when the
// benchmark itself is killed.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
