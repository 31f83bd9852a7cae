/** IP protocol numbers (IANA "Assigned Internet Protocol Numbers") the packet views know. */
export const IPPROTO_ICMP = 1;
/** IP in IP (RFC 2003), the tunnel real servers' encapsulation. */
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
