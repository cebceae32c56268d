/*
 * announce IFACE ADDRESS: tells the link that ADDRESS is now at IFACE's MAC address, so that neighbours
 * update their cache at once when a VIP moves between hosts: a gratuitous ARP request for IPv4, an
 * unsolicited neighbour advertisement with the override flag for IPv6 (RFC 5227 / RFC 4861 7.2.6).
 * Exit 0 also on an interface without a MAC address (loopback): there is no one to tell.
 */
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what) {
  perror(what);
  return 1;
}

static int garp(unsigned ifindex, const unsigned char mac[6], struct in_addr ip) {
  unsigned char frame[28];
  struct arphdr *h = (struct arphdr *)frame;
  h->ar_hrd = htons(ARPHRD_ETHER);
  h->ar_pro = htons(ETHERTYPE_IP);
  h->ar_hln = 6;
  h->ar_pln = 4;
  h->ar_op = htons(ARPOP_REQUEST);
  memcpy(frame + 8, mac, 6);
  memcpy(frame + 14, &ip, 4);
  memset(frame + 18, 0, 6);
  memcpy(frame + 24, &ip, 4);
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_ifindex = (int)ifindex, .sll_halen = 6};
  memset(to.sll_addr, 0xff, 6);
  int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ARP));
  if (fd < 0) return fail("socket(AF_PACKET)");
  ssize_t n = sendto(fd, frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to);
  close(fd);
  return n == (ssize_t)sizeof frame ? 0 : fail("sendto(gratuitous ARP)");
}

static int unsolicited_na(unsigned ifindex, const unsigned char mac[6], struct in6_addr ip) {
  unsigned char packet[sizeof(struct nd_neighbor_advert) + 8];
  struct nd_neighbor_advert *na = (struct nd_neighbor_advert *)packet;
  memset(packet, 0, sizeof packet);
  na->nd_na_type = ND_NEIGHBOR_ADVERT;
  na->nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
  na->nd_na_target = ip;
  packet[sizeof *na] = ND_OPT_TARGET_LINKADDR;
  packet[sizeof *na + 1] = 1; /* in units of 8 bytes */
  memcpy(packet + sizeof *na + 2, mac, 6);
  int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); /* the kernel fills in the checksum */
  if (fd < 0) return fail("socket(ICMPv6)");
  int hops = 255; /* receivers drop neighbour discovery that crossed a router */
  int index = (int)ifindex;
  struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_addr = ip};
  struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = ifindex};
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index) < 0 || bind(fd, (struct sockaddr *)&from, sizeof from) < 0) {
    close(fd);
    return fail("neighbour advertisement socket");
  }
  ssize_t n = sendto(fd, packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to);
  close(fd);
  return n == (ssize_t)sizeof packet ? 0 : fail("sendto(neighbour advertisement)");
}

int main(int argc, char **argv) {
  if (argc != 3 || strlen(argv[1]) >= IFNAMSIZ) {
    fprintf(stderr, "usage: announce IFACE ADDRESS\n");
    return 2;
  }
  struct in_addr v4;
  struct in6_addr v6;
  int family = inet_pton(AF_INET, argv[2], &v4) == 1 ? AF_INET : inet_pton(AF_INET6, argv[2], &v6) == 1 ? AF_INET6 : 0;
  if (!family) {
    fprintf(stderr, "announce: %s is not an IP address\n", argv[2]);
    return 2;
  }
  struct ifreq req = {0};
  strcpy(req.ifr_name, argv[1]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return fail("socket");
  int got = ioctl(fd, SIOCGIFHWADDR, &req);
  close(fd);
  if (got < 0) return fail(argv[1]);
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER) return 0;
  unsigned ifindex = if_nametoindex(argv[1]);
  if (!ifindex) return fail(argv[1]);
  const unsigned char *mac = (const unsigned char *)req.ifr_hwaddr.sa_data;
  return family == AF_INET ? garp(ifindex, mac, v4) : unsolicited_na(ifindex, mac, v6);
}
