/*
 * recphase.h: where the local Recursor stands in a restart, as the
 * auto-warm's watcher (warm/autowarm.c) finds it and the proxy's peers
 * (proxy/peer.c) read it: one atomic int the watcher writes and the data
 * path loads.
 */
#ifndef RECMESH_RECPHASE_H
#define RECMESH_RECPHASE_H

/*
 * REC_PHASE_DOWN from the restart detector's "went down" until it is
 * back; REC_PHASE_WARMING while a warm-up runs; else REC_PHASE_IDLE
 */
enum rec_phase { REC_PHASE_IDLE = 0, REC_PHASE_DOWN = 1, REC_PHASE_WARMING = 2 };

#endif
