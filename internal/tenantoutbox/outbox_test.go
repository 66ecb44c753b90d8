package tenantoutbox

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// TestRoundRobinInOrder: a tenant with a backlog gets one batch per round,
// so another tenant's single record goes out second, not after the
// backlog; each tenant's records keep their order.
func TestRoundRobinInOrder(t *testing.T) {
	var o Outbox[string]
	for i := range 7 {
		o.Add("a", fmt.Sprintf("a%d", i))
	}
	o.Add("b", "b0")
	if o.Len("a") != 7 || o.Total() != 8 {
		t.Fatalf("len a %d, total %d", o.Len("a"), o.Total())
	}
	var sends []string
	var sent [][]string
	o.Drain(3, func(tenant string, items []string) error {
		sends = append(sends, fmt.Sprint(tenant, items))
		return nil
	}, func(_ string, items []string) { sent = append(sent, items) })
	want := []string{"a[a0 a1 a2]", "b[b0]", "a[a3 a4 a5]", "a[a6]"}
	if !reflect.DeepEqual(sends, want) {
		t.Fatalf("sends %v, want %v", sends, want)
	}
	if len(sent) != 4 || o.Total() != 0 {
		t.Fatalf("%d batches marked sent, %d left", len(sent), o.Total())
	}
}

// TestRefusedTenantWaitsOthersGoOn: a refused tenant keeps its records, in
// order, for the next Drain, and the other tenant is drained meanwhile.
func TestRefusedTenantWaitsOthersGoOn(t *testing.T) {
	var o Outbox[int]
	o.Add("a", 1, 2, 3)
	o.Add("b", 10, 11)
	refuse := true
	var got []int
	send := func(tenant string, items []int) error {
		if tenant == "a" && refuse {
			return errors.New("queue full")
		}
		got = append(got, items...)
		return nil
	}
	o.Drain(2, send, nil)
	if !reflect.DeepEqual(got, []int{10, 11}) || o.Len("a") != 3 || o.Len("b") != 0 {
		t.Fatalf("after a refusal: sent %v, a holds %d, b %d", got, o.Len("a"), o.Len("b"))
	}
	o.Add("a", 4)
	refuse = false
	got = nil
	o.Drain(2, send, nil)
	if !reflect.DeepEqual(got, []int{1, 2, 3, 4}) || o.Total() != 0 {
		t.Fatalf("after the refusal ended: sent %v, %d left", got, o.Total())
	}
	var tenants []string
	o.Add("x", 1)
	o.Add("y", 2)
	o.Each(func(tenant string, items []int) { tenants = append(tenants, fmt.Sprint(tenant, items)) })
	if !reflect.DeepEqual(tenants, []string{"x[1]", "y[2]"}) {
		t.Fatalf("Each: %v", tenants)
	}
}

func TestRemoveTakesOneRecordBack(t *testing.T) {
	var o Outbox[int]
	o.Add("a", 1, 2, 1)
	if !o.Remove("a", func(v int) bool { return v == 1 }) || o.Len("a") != 2 {
		t.Fatalf("remove: %d left", o.Len("a"))
	}
	if o.Remove("a", func(v int) bool { return v == 9 }) || o.Remove("b", func(int) bool { return true }) {
		t.Fatal("removed a record that is not there")
	}
	o.Remove("a", func(int) bool { return true })
	o.Remove("a", func(int) bool { return true })
	var tenants []string
	o.Each(func(tenant string, _ []int) { tenants = append(tenants, tenant) })
	if o.Total() != 0 || len(tenants) != 0 {
		t.Fatalf("an emptied tenant is still in the ring: %v", tenants)
	}
}
