import sys,collections,subprocess
f,msgs=sys.argv[1],float(sys.argv[2])
marks=['splice_to_socket','tcp_splice_read','splice_file_to_pipe','tcp_sendmsg_locked','tcp_recvmsg','__tcp_push_pending_frames','tcp_write_xmit','do_softirq','handle_softirqs','__local_bh_enable_ip','net_rx_action','tcp_v4_rcv','tcp_ack','try_to_wake_up','sock_def_readable','sk_stream_write_space','schedule','io_uring_enter','__io_run_local_work','tctx_task_work','io_poll_task_func','io_poll_wake','__wake_up','ep_poll_callback','ep_poll','do_epoll_wait','io_cqring_wait','futex_wait','futex_wake','sched_yield','__x64_sys_splice','__x64_sys_io_uring_enter','__x64_sys_epoll_pwait','__x64_sys_futex','__x64_sys_sched_yield','__x64_sys_nanosleep','__x64_sys_recvfrom','tcp_rcv_established','release_sock','__release_sock','tcp_cleanup_rbuf','tcp_send_ack','skb_release_data','__kfree_skb','skb_attempt_defer_free','skb_defer_free_flush','finish_task_switch.isra.0','asm_sysvec_call_function_single','sysvec_call_function_single','asm_sysvec_apic_timer_interrupt','irq_exit_rcu']
out=subprocess.run(['perf','script','-i',f,'-F','ip,sym'],capture_output=True,text=True).stdout
cnt=collections.Counter(); n=0
for blk in out.split('\n\n'):
  syms=[l.split(None,1)[1].strip() if len(l.split(None,1))>1 else '' for l in blk.strip().split('\n') if l.strip()]
  if not syms: continue
  n+=1
  seen=set(s for s in syms if s in marks)
  for s in seen: cnt[s]+=1
print('samples',n,'per msg %.3f'%(n/msgs))
for m in marks:
  if cnt[m]: print('%-32s %.3f'%(m,cnt[m]/msgs))
