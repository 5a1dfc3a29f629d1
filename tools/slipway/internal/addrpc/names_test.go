package addrpc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateMethodAcceptsUpperCamelCase(t *testing.T) {
	for _, name := range []string{"ArchiveProduct", "ExportMyData", "Get", "GetHTTPStatus", "V2Sync"} {
		assert.NoError(t, ValidateMethod(name), name)
	}
}

func TestValidateMethodRefusesWhatIsNotUpperCamelCaseAndSaysWhy(t *testing.T) {
	for _, tc := range []struct{ name, msg string }{
		{"", "the method name is empty: name it in UpperCamelCase, e.g. ArchiveProduct"},
		{"archiveProduct", `method name "archiveProduct" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits (did you mean ArchiveProduct?)`},
		{"archive_product", `method name "archive_product" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits (did you mean ArchiveProduct?)`},
		{"Archive-Product", `method name "Archive-Product" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits (did you mean ArchiveProduct?)`},
		{"Archive_Product", `method name "Archive_Product" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits (did you mean ArchiveProduct?)`},
		{"9Lives", `method name "9Lives" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits`},
		{"Größe", `method name "Größe" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits`},
		{"../Evil", `method name "../Evil" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits (did you mean Evil?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.EqualError(t, ValidateMethod(tc.name), tc.msg)
		})
	}
}

func TestNamesKeepAcronymsWhole(t *testing.T) {
	for _, tc := range []struct{ ident, snake, kebab, lowerCamel string }{
		{"ArchiveProduct", "archive_product", "archive-product", "archiveProduct"},
		{"ExportMyData", "export_my_data", "export-my-data", "exportMyData"},
		{"GetHTTPStatus", "get_http_status", "get-http-status", "getHTTPStatus"},
		{"HTTPGet", "http_get", "http-get", "httpGet"},
		{"V2Sync", "v2_sync", "v2-sync", "v2Sync"},
		{"Get", "get", "get", "get"},
	} {
		assert.Equal(t, tc.snake, snake(tc.ident), tc.ident)
		assert.Equal(t, tc.kebab, kebab(tc.ident), tc.ident)
		assert.Equal(t, tc.lowerCamel, lowerCamel(tc.ident), tc.ident)
	}
}
