from messaging.models import ChannelAccount


def channel_account_list():
    return ChannelAccount.objects.all()
