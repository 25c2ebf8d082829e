package director

import "github.com/hadirector/hadirector/vrrp"

func vrrpPriority(p int) vrrp.Event {
	return vrrp.Event{Kind: vrrp.EvPriority, Priority: uint8(min(max(p, 1), 254))}
}

func vrrpFault(on bool, reason string) vrrp.Event {
	return vrrp.Event{Kind: vrrp.EvFault, Fault: on, Reason: reason}
}
