/* socket.h: private to the acquisition library: opening a configured socket. */
#ifndef INCEPTION_ACQ_SOCKET_H
#define INCEPTION_ACQ_SOCKET_H

#define ACQ_DEFAULT_ENDPOINT "tcp://127.0.0.1:5556"

/* A socket of `type` with its HWM, linger 0 and CURVE set, bound or connected. */
int acq_socket_open(void **out, void *context, int type, const acq_socket_config *c,
                    int curve_server, char *err);

#endif
