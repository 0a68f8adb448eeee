package awsapi

import (
	"errors"
	"slices"
	"testing"
)

func TestIAMActions(t *testing.T) {
	tab, err := DefaultIAM()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		service, op string
		want        []string
	}{
		{"s3", "ListBuckets", []string{"s3:ListAllMyBuckets"}},
		{"s3", "ListObjectsV2", []string{"s3:ListBucket"}},
		{"s3", "ListObjects", []string{"s3:ListBucket"}},
		{"s3", "HeadObject", []string{"s3:GetObject"}},
		{"s3", "CopyObject", []string{"s3:GetObject", "s3:PutObject"}},
		{"s3", "GetObject", []string{"s3:GetObject"}},
		{"s3", "GetBucketCors", []string{"s3:GetBucketCORS"}}, // the reference's spelling
		{"apigateway", "GetRestApis", []string{"apigateway:GET"}},
		{"apigateway", "CreateRestApi", []string{"apigateway:POST"}},
		{"apigateway", "DeleteRestApi", []string{"apigateway:DELETE"}},
		{"apigateway", "UpdateRestApi", []string{"apigateway:PATCH"}},
		{"iam", "ListUsers", []string{"iam:ListUsers"}},
		{"stepfunctions", "ListStateMachines", []string{"states:ListStateMachines"}},
		{"lambda", "Invoke", []string{"lambda:InvokeFunction"}},
		{"ec2", "DescribeInstances", []string{"ec2:DescribeInstances"}},
	}
	for _, tt := range tests {
		got, err := tab.Actions(tt.service, tt.op)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Actions(%s, %s) = %v, %v; want %v", tt.service, tt.op, got, err, tt.want)
		}
	}
	for _, c := range [][2]string{{"s3", "NoSuchOperation"}, {"nosuchservice", "ListThings"}} {
		_, err := tab.Actions(c[0], c[1])
		if !errors.Is(err, ErrNoIAMAction) {
			t.Errorf("Actions(%s, %s) err = %v, want ErrNoIAMAction", c[0], c[1], err)
		}
	}
	if tab.Source == "" || tab.Generated == "" || tab.Botocore == "" || tab.Len() < 10000 {
		t.Errorf("table provenance or size missing: %q %q %q %d", tab.Source, tab.Generated, tab.Botocore, tab.Len())
	}
}

// TestIAMTableCoversCatalog checks that every action in the table belongs
// to the prefix of its service or is an override's, and that every entry
// names a service of the catalog: a stale table generated against other
// botocore data fails here.
func TestIAMTableCoversCatalog(t *testing.T) {
	tab, err := DefaultIAM()
	if err != nil {
		t.Fatal(err)
	}
	cat := MustDefault()
	for key, acts := range tab.ops {
		i := 0
		for i < len(key) && key[i] != ':' {
			i++
		}
		svc, op := key[:i], key[i+1:]
		s, ok := cat.Service(svc)
		if !ok {
			t.Errorf("%s: service not in the catalog", key)
			continue
		}
		if !s.HasOperation(op) {
			t.Errorf("%s: operation not in the catalog", key)
		}
		if !slices.IsSorted(acts) || len(slices.Compact(slices.Clone(acts))) != len(acts) {
			t.Errorf("%s: actions %v not sorted and unique", key, acts)
		}
	}
}

func TestDecodeIAMRejectsBadData(t *testing.T) {
	if _, err := decodeIAM([]byte("not gzip")); err == nil {
		t.Error("decodeIAM accepted garbage")
	}
}
