package metrics

import "github.com/prometheus/client_golang/prometheus"

// deviceMetrics count the device authorization grant (RFC 8628); the
// Registry is a provider.DeviceObserver through them.
type deviceMetrics struct {
	authorizations *prometheus.CounterVec
	polls          *prometheus.CounterVec
}

func newDeviceMetrics(r *prometheus.Registry) *deviceMetrics {
	d := &deviceMetrics{
		authorizations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_device_authorizations_total",
			Help: "Device authorization requests (RFC 8628) by outcome: ok or the error code.",
		}, []string{"outcome"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_device_polls_total",
			Help: "Token requests of the device grant by outcome: approved, authorization_pending, slow_down, access_denied, expired_token, invalid_grant, ...",
		}, []string{"outcome"}),
	}
	r.MustRegister(d.authorizations, d.polls)
	return d
}

// DeviceAuthorization counts a device authorization request by outcome.
func (m *Registry) DeviceAuthorization(outcome string) {
	m.device.authorizations.WithLabelValues(outcome).Inc()
}

// DevicePoll counts a poll of the device grant by outcome.
func (m *Registry) DevicePoll(outcome string) { m.device.polls.WithLabelValues(outcome).Inc() }
