#ifndef CBULKHEAD_PCAP_SHIM_H
#define CBULKHEAD_PCAP_SHIM_H
#include <pcap/pcap.h>
#endif
