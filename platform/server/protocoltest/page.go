package protocoltest

import (
	"net/url"
	"strconv"
)

// PageRequest is a List request that pages: every List request of the
// Slipway APIs.
type PageRequest interface {
	GetPageSize() int32
	GetPageToken() string
}

// PageQuery is the REST query that carries req's paging fields, each only
// when set, as grpc-gateway maps them: page_size and page_token.
func PageQuery(req PageRequest) url.Values {
	q := url.Values{}
	if req.GetPageSize() != 0 {
		q.Set("page_size", strconv.Itoa(int(req.GetPageSize())))
	}
	if req.GetPageToken() != "" {
		q.Set("page_token", req.GetPageToken())
	}
	return q
}
