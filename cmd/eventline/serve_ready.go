package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// readyWait bounds how long serve waits to say it is ready; readyPoll is
// how often it asks /readyz.
const (
	readyWait = 2 * time.Minute
	readyPoll = 100 * time.Millisecond
)

// announceReady asks this process's /readyz at addr until it answers 200,
// then prints, once, where the dashboard is (or that the process is ready,
// when it serves no dashboard). `make run` shows this line once the
// dashboard can be used, after the start-up logs.
func announceReady(ctx context.Context, addr net.Addr, dashboard bool, stdout io.Writer) {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	url := "http://" + host
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyWait)
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if dashboard {
					fmt.Fprintf(stdout, "eventline: ready: dashboard at %s/\n", url)
				} else {
					fmt.Fprintf(stdout, "eventline: ready at %s\n", url)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stdout, "eventline: not ready after %s; %s/readyz says why\n", readyWait, url)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(readyPoll):
		}
	}
}
