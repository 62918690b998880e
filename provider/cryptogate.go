package provider

import "runtime"

// cryptoGate admits at most as many public-key operations (JWS signatures
// and their verifications) at a time as there are Ps, and lets the others
// wait their turn in arrival order.
//
// Why (issue 13, the client_credentials tail): an ES256 signature is some
// 35 µs of pure CPU here. With 64 requests signing at once on two CPUs, the
// Go scheduler interleaves all of them, and which one finishes next is
// close to random: at 64 connections a bare Gin handler that only signs had
// p50 2 ms but p99 39 ms. Admitted in order, each signature runs to its end
// while the others wait on a FIFO channel: the bare handler's p99 fell to
// 15–17 ms, and latchkey's client_credentials p99 from 58–64 ms to 37–41 ms
// (p90 28–30 ms to 19–21 ms) at the same throughput (wrk -t2 -c64, same
// machine, alternating runs). Nothing here can wait long: a holder always
// leaves after one signature or verification.
type cryptoGate chan struct{}

func newCryptoGate() cryptoGate {
	return make(cryptoGate, max(runtime.GOMAXPROCS(0), 1))
}

// do runs fn inside the gate; a nil gate runs it at once.
func (g cryptoGate) do(fn func()) {
	if g == nil {
		fn()
		return
	}
	g <- struct{}{}
	defer func() { <-g }()
	fn()
}
