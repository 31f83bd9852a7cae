/*
 * synflood: spoofed TCP SYNs at a fixed rate, for the flood test (netns/tests/flood.sh) only.
 *
 *   synflood DST_IP DST_PORT RATE SECONDS SRC_NET SRC_PREFIXLEN
 *
 * Sends RATE SYN segments per second for SECONDS seconds to DST_IP:DST_PORT from random
 * source addresses inside SRC_NET/SRC_PREFIXLEN (RFC 2544 space in the test) and random
 * source ports, through a raw IPPROTO_RAW socket (IP_HDRINCL; the kernel fills the IP
 * checksum and id). Pacing: batches every millisecond against an absolute clock, so the
 * average rate holds even when a batch is late. Prints "sent N in S s = R/s" at the end.
 * Run only inside a test namespace that has no route out of the topology.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint32_t rng = 2463534242u;
static uint32_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static uint16_t csum_fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)(p[n - 1] << 8);
  return s;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: synflood DST_IP DST_PORT RATE SECONDS SRC_NET SRC_PREFIXLEN\n");
    return 2;
  }
  struct in_addr dst, net;
  if (inet_pton(AF_INET, argv[1], &dst) != 1 || inet_pton(AF_INET, argv[5], &net) != 1) return 2;
  int dport = atoi(argv[2]);
  long rate = atol(argv[3]);
  double secs = atof(argv[4]);
  int plen = atoi(argv[6]);
  if (rate <= 0 || secs <= 0 || plen < 8 || plen > 32) return 2;
  uint32_t base = ntohl(net.s_addr), hostmask = plen == 32 ? 0 : (0xffffffffu >> plen);
  rng ^= (uint32_t)getpid() * 2654435761u;

  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) { perror("socket"); return 1; }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  uint8_t pkt[40];
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
  long sent = 0, failed = 0;
  double start = now_s(), end = start + secs;
  const double tick = 0.001;
  double next = start;
  while (1) {
    double t = now_s();
    if (t >= end) break;
    long due = (long)((t - start) * rate) + 1;
    while (sent + failed < due) {
      uint32_t src = (base & ~hostmask) | (xorshift() & hostmask);
      uint16_t sport = (uint16_t)(1024 + xorshift() % 60000);
      uint32_t seq = xorshift();
      memset(pkt, 0, sizeof pkt);
      pkt[0] = 0x45;
      pkt[2] = 0; pkt[3] = 40;            /* total length */
      pkt[6] = 0x40;                      /* DF */
      pkt[8] = 64;                        /* TTL */
      pkt[9] = IPPROTO_TCP;
      uint32_t s_be = htonl(src);
      memcpy(pkt + 12, &s_be, 4);
      memcpy(pkt + 16, &dst.s_addr, 4);
      uint8_t *tcp = pkt + 20;
      tcp[0] = sport >> 8; tcp[1] = sport & 0xff;
      tcp[2] = dport >> 8; tcp[3] = dport & 0xff;
      tcp[4] = seq >> 24; tcp[5] = seq >> 16; tcp[6] = seq >> 8; tcp[7] = seq;
      tcp[12] = 5 << 4;                   /* data offset */
      tcp[13] = 0x02;                     /* SYN */
      tcp[14] = 0xff; tcp[15] = 0xff;     /* window */
      /* RFC 793 pseudo-header checksum */
      uint32_t s = sum16(pkt + 12, 8, 0) + IPPROTO_TCP + 20;
      uint16_t c = csum_fold(sum16(tcp, 20, s));
      tcp[16] = c >> 8; tcp[17] = c & 0xff;
      if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to) == sizeof pkt) sent++;
      else failed++;
    }
    next += tick;
    double wait = next - now_s();
    if (wait > 0) {
      struct timespec ts = { 0, (long)(wait * 1e9) };
      nanosleep(&ts, NULL);
    }
  }
  double took = now_s() - start;
  printf("sent %ld in %.2f s = %.0f/s (send errors %ld)\n", sent, took, sent / took, failed);
  return 0;
}
