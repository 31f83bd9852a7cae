/** Views over packet bytes: IPv4, TCP, UDP, ICMP, and the Internet checksum. */
export * from './checksum';
export * from './ipv4';
export * from './tcp';
export * from './udp';
export * from './icmp';
export * from './addr6';
export * from './ipv6';
export * from './ipv6-ext';
export * from './icmp6';
export * from './frag6';
