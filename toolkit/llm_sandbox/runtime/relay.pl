# llm-sandbox egress relay: runs in the installer container, which has no network but its own loopback.
# Passed as `perl -e "<this file>" SOCKET PROXY_PORT [PORT...]`. Listens on 127.0.0.1:PROXY_PORT (what
# HTTP(S)_PROXY names) and on each PORT (a package index this host has on its own loopback), and passes
# every connection to the Unix socket SOCKET, where the library's filtering proxy decides where it may go
# (sessions/egress.py). A PORT connection is first tunnelled to 127.0.0.1:PORT with CONNECT. Returns once
# it listens; the relay goes on in the background until the installer is removed.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use POSIX ();
use Socket qw(SOCK_STREAM);

my ($path, $proxy_port, @forwarded) = @ARGV;
my @listeners;
for my $port ($proxy_port, @forwarded) {
    my $server = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $port, Listen => 64, ReuseAddr => 1)
        or die "llm-sandbox relay: cannot listen on 127.0.0.1:$port: $!\n";
    push @listeners, [$server, $port == $proxy_port ? undef : "127.0.0.1:$port"];
}
defined(my $pid = fork) or die "llm-sandbox relay: cannot fork: $!\n";
exit 0 if $pid;
POSIX::setsid();
open STDIN, "<", "/dev/null";
open STDOUT, ">", "/dev/null";
open STDERR, ">", "/dev/null";
$SIG{CHLD} = "IGNORE";

my $ready = IO::Select->new(map { $_->[0] } @listeners);
while (1) {
    for my $server ($ready->can_read) {
        my ($listener) = grep { $_->[0] == $server } @listeners;
        my $client = $server->accept or next;
        my $child = fork;
        if (!defined $child || $child) { close $client; next; }
        close $_->[0] for @listeners;
        serve($client, $listener->[1]);
        exit 0;
    }
}

sub serve {
    my ($client, $target) = @_;
    my $proxy = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path) or return;
    if (defined $target) {
        syswrite($proxy, "CONNECT $target HTTP/1.1\r\nHost: $target\r\n\r\n");
        my $head = "";
        while (index($head, "\r\n\r\n") < 0) {
            my $n = sysread($proxy, $head, 4096, length $head);
            return if !$n || length $head > 65536;
        }
        my ($status, $rest) = split /\r\n\r\n/, $head, 2;
        if ($status !~ m{^HTTP/1\.\d 200 }) { syswrite($client, $head); return; }
        syswrite($client, $rest) if length $rest;
    }
    pump($client, $proxy);
}

sub pump {
    my ($one, $two) = @_;
    my $open = IO::Select->new($one, $two);
    while ($open->count) {
        for my $from ($open->can_read) {
            my $to = $from == $one ? $two : $one;
            my $n = sysread($from, my $buffer, 65536);
            if (!$n) { shutdown($to, 1); $open->remove($from); next; }
            for (my $done = 0; $done < $n;) {
                my $written = syswrite($to, $buffer, $n - $done, $done);
                return if !defined $written;
                $done += $written;
            }
        }
    }
}
