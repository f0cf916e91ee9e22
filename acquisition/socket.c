/* socket.c: what the receiver and the publisher share: the loopback rule for
 * endpoints, CURVE keys from files, and the socket options set on purpose. */
#include "acquisition.h"
#include "socket.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

int64_t acq_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int acq_endpoint_check(const char *endpoint, int allow_remote, char *err)
{
    static const char *const loopback[] = {
        "inproc://", "ipc://", "tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:",
    };
    if (!endpoint || !*endpoint)
        return acq_fail(err, "empty endpoint");
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (!strncmp(endpoint, loopback[i], strlen(loopback[i])))
            return 0;
    if (allow_remote)
        return 0;
    return acq_fail(err, "endpoint %s is not loopback; allow it explicitly (--allow-remote) to "
                    "bind or connect beyond this machine", endpoint);
}

/* A Z85 key: the first 40 non-space characters of a file. */
static int read_key(const char *path, char key[41], char *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return acq_fail(err, "%s: cannot open the CURVE key file", path);
    int n = 0, c;
    while (n < 40 && (c = fgetc(f)) != EOF)
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            key[n++] = (char)c;
    fclose(f);
    key[n] = 0;
    uint8_t raw[32];
    if (n != 40 || !zmq_z85_decode(raw, key))
        return acq_fail(err, "%s: not a 40-character Z85 CURVE key", path);
    return 0;
}

static int set_curve(void *socket, const acq_socket_config *c, int server, char *err)
{
    char secret[41], public[41], server_key[41];
    if (!c->curve_secret_file)
        return c->curve_server_public_file
                   ? acq_fail(err, "CURVE: a server key needs a secret key too")
                   : 0;
    if (read_key(c->curve_secret_file, secret, err))
        return 1;
    if (zmq_curve_public(public, secret) != 0)
        return acq_fail(err, "CURVE: %s (is libzmq built with CURVE?)",
                        zmq_strerror(zmq_errno()));
    int one = 1;
    if (server)
        return zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) ||
               zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret, 40)
                   ? acq_fail(err, "CURVE: %s", zmq_strerror(zmq_errno()))
                   : 0;
    if (!c->curve_server_public_file)
        return acq_fail(err, "CURVE: the subscriber needs the server's public key file");
    if (read_key(c->curve_server_public_file, server_key, err))
        return 1;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, server_key, 40) ||
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, public, 40) ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret, 40))
        return acq_fail(err, "CURVE: %s", zmq_strerror(zmq_errno()));
    return 0;
}

int acq_socket_open(void **out, void *context, int type, const acq_socket_config *c,
                    int curve_server, char *err)
{
    const char *endpoint = c->endpoint ? c->endpoint : ACQ_DEFAULT_ENDPOINT;
    *out = NULL;
    if (acq_endpoint_check(endpoint, c->allow_remote, err))
        return 1;
    void *s = zmq_socket(context, type);
    if (!s)
        return acq_fail(err, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    /* The HWM is where memory stops growing: beyond it, PUB drops (and the
     * subscriber sees a sequence gap) rather than queueing without bound. */
    int hwm = c->hwm > 0 ? c->hwm : 10000, linger = 0;
    zmq_setsockopt(s, type == ZMQ_SUB ? ZMQ_RCVHWM : ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (c->max_frame > 0)
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &c->max_frame, sizeof c->max_frame);
    if (set_curve(s, c, curve_server, err)) {
        zmq_close(s);
        return 1;
    }
    int rc = c->bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint);
    if (rc != 0) {
        acq_fail(err, "%s %s: %s", c->bind ? "bind" : "connect", endpoint,
                 zmq_strerror(zmq_errno()));
        zmq_close(s);
        return 1;
    }
    *out = s;
    return 0;
}
