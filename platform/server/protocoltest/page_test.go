package protocoltest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
)

func TestPageQuery(t *testing.T) {
	tests := []struct {
		name string
		req  *inventoryv1.ListProductsRequest
		want string
	}{
		{"no paging fields", &inventoryv1.ListProductsRequest{}, ""},
		{"a page size", &inventoryv1.ListProductsRequest{PageSize: 5}, "page_size=5"},
		{"both, the token escaped", &inventoryv1.ListProductsRequest{PageSize: 2, PageToken: "a/b=="}, "page_size=2&page_token=a%2Fb%3D%3D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, protocoltest.PageQuery(tt.req).Encode())
		})
	}
}
