package provider

import "context"

// detach returns a context that keeps ctx's values and deadline but not its
// cancellation: work that must finish as a whole once started (a refresh
// rotation) runs under it, so a client that hangs up cannot interrupt it
// halfway, while the request timeout still bounds it.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, deadline)
	}
	return context.WithCancel(d)
}
