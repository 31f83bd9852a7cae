/** Views over packet bytes: IPv4, TCP, UDP, ICMP, and the Internet checksum. */
export * from './checksum';
export * from './ipv4';
export * from './tcp';
export * from './udp';
export * from './icmp';
